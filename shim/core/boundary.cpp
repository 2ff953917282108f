// boundary.cpp - see boundary.hpp.
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "boundary.hpp"

namespace jen1 {

bool file_exists(const std::string &path)
{
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void to_c_tensor(const at::Tensor &src, jen1_tensor *dst)
{
    at::Tensor t = src.to(at::kCPU).contiguous();
    if (t.dim() > 6) throw Error(JEN1_ERR_INTERNAL, "tensor has too many dimensions");
    jen1_tensor out{};
    if (t.scalar_type() == at::kLong) {
        out.dtype = JEN1_I64;
    } else {
        t = t.to(at::kFloat);
        out.dtype = JEN1_F32;
    }
    out.ndim = (int)t.dim();
    for (int i = 0; i < out.ndim; i++) out.shape[i] = t.size(i);
    size_t bytes = (size_t)t.numel() * t.element_size();
    out.data = std::malloc(bytes ? bytes : 1);
    if (!out.data) throw std::bad_alloc();
    std::memcpy(out.data, t.data_ptr(), bytes);
    *dst = out;
}

at::Device choose_device(jen1_device wanted)
{
    const bool cuda = at::globalContext().hasCUDA() && at::detail::getCUDAHooks().getNumGPUs() > 0;
    if (wanted == JEN1_DEVICE_CUDA && !cuda)
        throw Error(JEN1_ERR_DEVICE, "CUDA was requested but LibTorch sees no GPU (built with CUDA: " +
                                         std::string(at::globalContext().hasCUDA() ? "yes" : "no") + ")");
    if (wanted != JEN1_DEVICE_CPU && cuda) return at::Device(at::kCUDA, 0);
    return at::Device(at::kCPU);
}

void set_threads(int n)
{
    at::set_num_threads(n > 0 ? n : (int)std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace jen1
