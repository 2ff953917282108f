// weights.hpp - what every model of the engine shares on the C++ side: the
// error type that api code turns into a jen1_status at the C boundary, and
// checkpoint tensors by name with validated shapes. Never included from C.
#pragma once

#include <ATen/ATen.h>

#include <stdexcept>
#include <string>
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

// The checkpoint's tensors by name. get() returns a CPU float32 tensor of the
// expected shape: a zero-copy view of the memory-mapped file for F32 data, a
// converted copy for F16/BF16. A missing tensor or a shape other than
// `shape` throws Error(JEN1_ERR_FORMAT, "<file>: tensor '<name>' ...").
class Weights {
public:
    explicit Weights(const safetensors_file *file) : file_(file) {}
    bool has(const std::string &name) const;
    at::Tensor get(const std::string &name, at::IntArrayRef shape) const;
    // The first of `names` that exists, for tensors with several spellings.
    at::Tensor get_any(const std::vector<std::string> &names, at::IntArrayRef shape) const;
    const char *path() const;

private:
    const safetensors_file *file_;
};

} // namespace jen1
