// linear.cpp - see linear.hpp.
#include <ATen/Parallel.h>

#include <algorithm>

#include "linear.hpp"
#include "matvec.h"

namespace jen1 {

at::Tensor Linear::operator()(const at::Tensor &x) const
{
    const int64_t in = w.size(1), out = w.size(0);
    const int64_t rows = x.numel() / in;
    if (!x.is_cpu() || rows > JEN1_MATVEC_MAX_ROWS || x.scalar_type() != at::kFloat)
        return at::linear(x, w, b);

    at::Tensor xc = x.reshape({rows, in}).contiguous();
    auto out_sizes = x.sizes().vec();
    out_sizes.back() = out;
    at::Tensor y = at::empty({rows, out}, x.options());
    const float *xp = xc.data_ptr<float>();
    const float *bp = b.defined() ? b.data_ptr<float>() : nullptr;
    float *yp = y.data_ptr<float>();
    const int threads = at::get_num_threads();
    const int64_t grain = std::max<int64_t>(64, (out + threads - 1) / threads);
    if (w_bf16.defined()) {
        const uint16_t *wp = reinterpret_cast<const uint16_t *>(w_bf16.data_ptr<int16_t>());
        at::parallel_for(0, out, grain, [&](int64_t j0, int64_t j1) {
            jen1_matvec_bf16(xp, (int)rows, (int)in, (int)in, wp, bp, yp, (int)out, (int)j0, (int)j1);
        });
    } else {
        const float *wp = w.data_ptr<float>();
        at::parallel_for(0, out, grain, [&](int64_t j0, int64_t j1) {
            jen1_matvec_f32(xp, (int)rows, (int)in, (int)in, wp, bp, yp, (int)out, (int)j0, (int)j1);
        });
    }
    return y.view(out_sizes);
}

Linear make_linear(const Weights &w, const std::string &name, int64_t out, int64_t in, bool bf16)
{
    Linear l;
    l.w = w.get(name, {out, in});
    if (bf16) {
        l.w_bf16 = at::empty({out, in}, at::TensorOptions().dtype(at::kShort));
        jen1_f32_to_bf16(l.w.data_ptr<float>(), reinterpret_cast<uint16_t *>(l.w_bf16.data_ptr<int16_t>()),
                         (size_t)l.w.numel());
    }
    return l;
}

void Linear::to(at::Device device)
{
    if (w.defined()) w = w.to(device);
    if (b.defined()) b = b.to(device);
    if (!device.is_cpu()) w_bf16 = at::Tensor();
}

}  // namespace jen1
