// weights.cpp - checkpoint tensors by name, as float32 ATen tensors of a
// validated shape.
#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>

#include "weights.hpp"

namespace jen1 {

std::string shape_string(at::IntArrayRef shape)
{
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); i++) {
        if (i > 0)
            s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

const char *Weights::path() const
{
    return label_.c_str();
}

const safetensors_tensor *Weights::find(const std::string &name) const
{
    for (const safetensors_file *f : files_)
        if (const safetensors_tensor *t = safetensors_find(f, name.c_str()))
            return t;
    return nullptr;
}

bool Weights::has(const std::string &name) const
{
    return find(name) != nullptr;
}

const safetensors_tensor *Weights::checked(const std::string &name, at::IntArrayRef shape) const
{
    const safetensors_tensor *t = find(name);
    if (!t)
        throw Error(JEN1_ERR_FORMAT, std::string(path()) + ": tensor '" + name +
                                         "' is missing (expected shape " + shape_string(shape) + ")");

    at::IntArrayRef actual(t->shape, static_cast<size_t>(t->ndim));
    if (!actual.equals(shape))
        throw Error(JEN1_ERR_FORMAT, std::string(path()) + ": tensor '" + name + "' has shape " +
                                         shape_string(actual) + ", expected " + shape_string(shape));
    return t;
}

at::Tensor Weights::get_bf16_bits(const std::string &name, at::IntArrayRef shape) const
{
    const safetensors_tensor *t = checked(name, shape);
    if (t->dtype != SAFETENSORS_BF16 || t->nbytes == 0 || reinterpret_cast<uintptr_t>(t->data) % 2 != 0)
        return at::Tensor();
    // Read-only shared mapping: never written through (see get()).
    return at::from_blob(const_cast<void *>(t->data), shape, at::TensorOptions().dtype(at::kShort));
}

at::Tensor Weights::get(const std::string &name, at::IntArrayRef shape) const
{
    const safetensors_tensor *t = checked(name, shape);
    at::IntArrayRef actual(t->shape, static_cast<size_t>(t->ndim));
    at::ScalarType stored;
    switch (t->dtype) {
    case SAFETENSORS_F32: stored = at::kFloat; break;
    case SAFETENSORS_F16: stored = at::kHalf; break;
    case SAFETENSORS_BF16: stored = at::kBFloat16; break;
    default:
        throw Error(JEN1_ERR_FORMAT, std::string(path()) + ": tensor '" + name + "' " +
                                         shape_string(actual) + " has dtype " +
                                         safetensors_dtype_name(t->dtype) +
                                         ", expected F32, F16 or BF16");
    }

    if (t->nbytes == 0)
        return at::zeros(shape, at::kFloat);
    // safetensors does not promise aligned data and ATen expects
    // element-aligned pointers, so a misaligned tensor is copied first.
    at::Tensor stored_tensor;
    if (reinterpret_cast<uintptr_t>(t->data) % at::elementSize(stored) == 0) {
        // The mapping is read-only and shared with other processes: the view
        // must never be written through (the shim never modifies weights in place).
        stored_tensor = at::from_blob(const_cast<void *>(t->data), shape, at::TensorOptions().dtype(stored));
    } else {
        stored_tensor = at::empty(shape, at::TensorOptions().dtype(stored));
        std::memcpy(stored_tensor.data_ptr(), t->data, t->nbytes);
    }
    return stored == at::kFloat ? stored_tensor : stored_tensor.to(at::kFloat);
}

at::Tensor Weights::get_any(const std::vector<std::string> &names, at::IntArrayRef shape) const
{
    for (const std::string &name : names)
        if (has(name))
            return get(name, shape);

    std::string tried;
    for (const std::string &name : names)
        tried += (tried.empty() ? "'" : " or '") + name + "'";
    throw Error(JEN1_ERR_FORMAT, std::string(path()) + ": tensor " + tried +
                                     " is missing (expected shape " + shape_string(shape) + ")");
}

}  // namespace jen1
