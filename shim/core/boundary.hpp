// boundary.hpp - what every model's C API needs at the line between C++ and
// C: exceptions turned into a jen1_status and a message, tensors copied out
// as jen1_tensor, the device chosen. Never included from C.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <new>
#include <string>

#include "errbuf.h"
#include "jen1_stages.h"
#include "weights.hpp"

namespace jen1 {

// Runs `body`, mapping every exception to a status and a message.
template <typename F> jen1_status guarded(char *err, size_t errlen, F body)
{
    try {
        body();
        if (err && errlen) err[0] = '\0';
        return JEN1_OK;
    } catch (const Error &e) {
        errbuf_printf(err, errlen, "%s", e.what());
        return e.status;
    } catch (const c10::Error &e) {
        errbuf_printf(err, errlen, "libtorch: %s", e.what_without_backtrace());
        return JEN1_ERR_INTERNAL;
    } catch (const std::bad_alloc &) {
        errbuf_printf(err, errlen, "out of memory");
        return JEN1_ERR_NO_MEMORY;
    } catch (const std::exception &e) {
        errbuf_printf(err, errlen, "%s", e.what());
        return JEN1_ERR_INTERNAL;
    } catch (...) {
        errbuf_printf(err, errlen, "unknown error");
        return JEN1_ERR_INTERNAL;
    }
}

// A new M loaded by load(M *) under guarded(): *out is set on success only.
template <typename M, typename F> jen1_status guarded_new(M **out, char *err, size_t errlen, F load)
{
    M *m = nullptr;
    jen1_status st = guarded(err, errlen, [&] {
        m = new M();
        load(m);
    });
    if (st != JEN1_OK) {
        delete m;
        return st;
    }
    *out = m;
    return JEN1_OK;
}

// A regular file at path.
bool file_exists(const std::string &path);

// src (any device, float or int64) as a malloc'd CPU jen1_tensor.
void to_c_tensor(const at::Tensor &src, jen1_tensor *dst);

// The device `wanted` names: CUDA when asked for (an error without a GPU) or
// when AUTO finds one, else the CPU.
at::Device choose_device(jen1_device wanted);

// at::set_num_threads(n), all cores for n <= 0.
void set_threads(int n);

}  // namespace jen1
