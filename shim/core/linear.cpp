// linear.cpp - see linear.hpp.
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>

#include "linear.hpp"
#include "matvec.h"

namespace jen1 {

at::Tensor Linear::operator()(const at::Tensor &x) const
{
    // A bf16 weight on a GPU (to()): the product in bf16, the output fp32.
    if (w.defined() && w.scalar_type() == at::kBFloat16) {
        at::Tensor y = at::linear(x.to(at::kBFloat16), w).to(at::kFloat);
        return b.defined() ? y.add_(b) : y;
    }
    // Without an fp32 weight (bf16 mapped from the checkpoint) few rows go
    // through the bf16 kernel, many through a bf16 GEMM.
    const bool only_bf16 = !w.defined();
    const bool kernel_fits = x.is_cpu() && x.scalar_type() == at::kFloat;
    if (only_bf16 && !kernel_fits)
        throw Error(JEN1_ERR_INTERNAL, "a bf16-only weight multiplies a CPU float32 input only");
    if (!kernel_fits) return at::linear(x, w, b);
    if (x.numel() / (only_bf16 ? w_bf16 : w).size(1) > JEN1_MATVEC_MAX_ROWS) {
        // Many rows (a prefill) are compute-bound: LibTorch's bf16 GEMM
        // (oneDNN, AVX512-BF16 where the CPU has it) runs at about twice the
        // fp32 rate, with the input rounded to bf16 as a bf16 model computes.
        // int8 weights take the same GEMM over their codes, which bf16 holds
        // exactly (|q| <= 127), with the row scales applied to the output:
        // the int8 model's product. The codes are widened per call into a
        // buffer kept per thread (a fresh 8 MB tensor each time cost its page
        // faults: 0.3 s of a 2.3 s prefill); keeping them widened for good
        // would cost 2 bytes a weight. fp32 weights alone keep the fp32 GEMM
        // (the reference's numerics).
        at::Tensor y;
        if (w_i8.defined()) {
            thread_local at::Tensor widened;
            if (!widened.defined() || widened.numel() < w_i8.numel())
                widened = at::empty({w_i8.numel()}, at::TensorOptions().dtype(at::kBFloat16));
            at::Tensor codes = widened.narrow(0, 0, w_i8.numel()).view(w_i8.sizes()).copy_(w_i8);
            y = at::linear(x.to(at::kBFloat16), codes).to(at::kFloat).mul_(i8_scale);
        } else if (w_bf16.defined())
            y = at::linear(x.to(at::kBFloat16), w_bf16.view(at::kBFloat16)).to(at::kFloat);
        else
            return at::linear(x, w, b);
        return b.defined() ? y.add_(b) : y;
    }

    const at::Tensor &weight = only_bf16 ? w_bf16 : w;
    const int64_t in = weight.size(1), out = weight.size(0);
    const int64_t rows = x.numel() / in;
    at::Tensor xc = x.reshape({rows, in}).contiguous();
    auto out_sizes = x.sizes().vec();
    out_sizes.back() = out;
    at::Tensor y = at::empty({rows, out}, x.options());
    const float *xp = xc.data_ptr<float>();
    const float *bp = b.defined() ? b.data_ptr<float>() : nullptr;
    float *yp = y.data_ptr<float>();
    const int8_t *w8 = w_i8.defined() ? w_i8.data_ptr<int8_t>() : nullptr;
    const float *scale = w8 ? i8_scale.data_ptr<float>() : nullptr;
    const uint16_t *w16 = w_bf16.defined() ? reinterpret_cast<const uint16_t *>(w_bf16.data_ptr<int16_t>()) : nullptr;
    const float *w32 = w16 || w8 ? nullptr : w.data_ptr<float>();
    auto columns = [&](int64_t j0, int64_t j1) {
        if (w8) jen1_matvec_i8(xp, (int)rows, (int)in, (int)in, w8, scale, bp, yp, (int)out, (int)j0, (int)j1);
        else if (w16) jen1_matvec_bf16(xp, (int)rows, (int)in, (int)in, w16, bp, yp, (int)out, (int)j0, (int)j1);
        else jen1_matvec_f32(xp, (int)rows, (int)in, (int)in, w32, bp, yp, (int)out, (int)j0, (int)j1);
    };
    // The threads take blocks of columns as they come free rather than a
    // fixed share each: on a shared host a thread that lost its core for a
    // moment leaves its blocks to the others instead of holding them up.
    // (A block is a multiple of the kernels' column tiles, 6 and 8.)
    constexpr int64_t block = 192;
    const int64_t n_blocks = (out + block - 1) / block;
    std::atomic<int64_t> next{0};
    at::parallel_for(0, std::min<int64_t>(at::get_num_threads(), n_blocks), 1, [&](int64_t, int64_t) {
        for (int64_t i; (i = next.fetch_add(1)) < n_blocks;) columns(i * block, std::min(out, (i + 1) * block));
    });
    return y.view(out_sizes);
}

Linear make_linear(const Weights &w, const std::string &name, int64_t out, int64_t in, jen1_weight_type type)
{
    Linear l;
    l.w = w.get(name, {out, in});
    if (type == JEN1_WEIGHTS_INT8) {
        l.w_i8 = at::empty({out, in}, at::TensorOptions().dtype(at::kChar));
        l.i8_scale = at::empty({out}, at::kFloat);
        jen1_quantize_i8_rows(l.w.data_ptr<float>(), (size_t)out, (size_t)in, l.w_i8.data_ptr<int8_t>(),
                              l.i8_scale.data_ptr<float>());
    } else if (type == JEN1_WEIGHTS_BF16) {
        l.w_bf16 = at::empty({out, in}, at::TensorOptions().dtype(at::kShort));
        jen1_f32_to_bf16(l.w.data_ptr<float>(), reinterpret_cast<uint16_t *>(l.w_bf16.data_ptr<int16_t>()),
                         (size_t)l.w.numel());
    }
    return l;
}

void Linear::to(at::Device device)
{
    // On a GPU a bf16 weight (bf16 asked for, or a BF16 checkpoint's) stays
    // bf16, alone: half the memory and the GPU's bf16 GEMM; int8 asks a GPU
    // for nothing it does better than fp32 (its fp32 weight goes).
    if (!device.is_cpu() && w_bf16.defined())
        w = w_bf16.view(at::kBFloat16).to(device);
    else if (w.defined())
        w = w.to(device);
    if (b.defined()) b = b.to(device);
    if (!device.is_cpu()) w_bf16 = w_i8 = i8_scale = at::Tensor();
}

at::Tensor bf16_to_f32(const at::Tensor &bits, at::Device device)
{
    // int16 bits -> the bf16 they are (a view), then fp32 on the device.
    return bits.view(at::kBFloat16).to(device).to(at::kFloat);
}

}  // namespace jen1
