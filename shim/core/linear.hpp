// linear.hpp - y = x W^T (+ b), the product every decoder of the engine is
// made of. Never included from C.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "weights.hpp"

namespace jen1 {

// A weight kept in fp32 (possibly a view of the mapped file) and optionally
// as bf16 or as int8 with a scale per output row, or only as bf16 (a view of
// a BF16 checkpoint's mapping: no private copy). Few-row products on the CPU
// (a decode step) go through the matvec kernels, which stream the weights
// once (the int8 copy first, then bf16, then fp32); more rows (a prefill)
// through a bf16 GEMM over the bf16 or int8 copy, or at::linear over fp32.
struct Linear {
    at::Tensor w, b;       // [out, in] fp32 (undefined when only bf16), bias optional
    at::Tensor w_bf16;     // [out, in] as int16 bits, when enabled
    at::Tensor w_i8;       // [out, in] int8, when enabled (w is then defined)
    at::Tensor i8_scale;   // [out] fp32: row j of the weight is w_i8[j] * i8_scale[j]
    at::Tensor operator()(const at::Tensor &x) const;
    // To `device`. Off the CPU one weight goes: a bf16 copy as bf16 (w then
    // holds bf16 and the product runs in bf16, its output fp32), else fp32
    // (int8 runs its fp32 weight there).
    void to(at::Device device);
};

// bf16 weight bits (int16 [..]) as an fp32 tensor on `device`.
at::Tensor bf16_to_f32(const at::Tensor &bits, at::Device device);

// The weight `name` of shape [out, in], with the copy `type` asks for (a
// private bf16 or int8 copy beside the fp32 weight; none for F32).
Linear make_linear(const Weights &w, const std::string &name, int64_t out, int64_t in, jen1_weight_type type);

}  // namespace jen1
