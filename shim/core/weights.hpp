// weights.hpp - what every model of the engine shares on the C++ side: the
// error type that api code turns into a jen1_status at the C boundary, and
// checkpoint tensors by name with validated shapes. Never included from C.
#pragma once

#include <ATen/ATen.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "jen1.h"
#include "safetensors.h"

namespace jen1 {

struct Error : std::runtime_error {
    jen1_status status;
    Error(jen1_status s, const std::string &message) : std::runtime_error(message), status(s) {}
};

// "[64, 16, 7]": for messages.
std::string shape_string(at::IntArrayRef shape);

// The checkpoint's tensors by name, from one file or from the shards of a
// sharded checkpoint (no tensor in two of them: the loader checks). get()
// returns a CPU float32 tensor of the expected shape: a zero-copy view of the
// memory-mapped file for F32 data, a converted copy for F16/BF16. A missing
// tensor or a shape other than `shape` throws
// Error(JEN1_ERR_FORMAT, "<file>: tensor '<name>' ...").
class Weights {
public:
    explicit Weights(const safetensors_file *file) : files_{file}, label_(safetensors_path(file)) {}
    // `label` names the checkpoint in messages (the shards' index file).
    Weights(std::vector<const safetensors_file *> files, std::string label)
        : files_(std::move(files)), label_(std::move(label)) {}
    bool has(const std::string &name) const;
    at::Tensor get(const std::string &name, at::IntArrayRef shape) const;
    // A BF16 tensor's mapped bits as an int16 view (no copy), validated as
    // get() does; an undefined tensor when it is stored in another dtype or
    // misaligned (then get() and a conversion are the way).
    at::Tensor get_bf16_bits(const std::string &name, at::IntArrayRef shape) const;
    // The first of `names` that exists, for tensors with several spellings.
    at::Tensor get_any(const std::vector<std::string> &names, at::IntArrayRef shape) const;
    const char *path() const;

private:
    const safetensors_tensor *find(const std::string &name) const;
    // The tensor `name` of `shape`, or the missing/shape error.
    const safetensors_tensor *checked(const std::string &name, at::IntArrayRef shape) const;
    std::vector<const safetensors_file *> files_;
    std::string label_;
};

} // namespace jen1
