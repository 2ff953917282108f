// tokenizer.cpp - the T5 tokenizer: SentencePiece ids of the text, then </s>.
//
// The SentencePiece model is read and run by spm.c, our own C implementation,
// not by libsentencepiece: Debian's libsentencepiece bundles protobuf-lite
// 3.14 and exports its symbols, LibTorch loads libprotobuf 3.21, and the two
// cannot share a process. tests/cli/test_spm_parity.sh checks spm.c against
// the real library in a process of its own.
#include "musicgen.hpp"
#include "spm.h"

#include <cstdlib>

namespace jen1 {

struct Tokenizer::Impl {
    spm_model *model = nullptr;
    ~Impl() { spm_free(model); }
};

Tokenizer::Tokenizer() : impl_(new Impl) {}
Tokenizer::~Tokenizer() { delete impl_; }

void Tokenizer::load(const std::string &path)
{
    char err[512];
    spm_model *m = nullptr;
    if (spm_load(path.c_str(), &m, err, sizeof err) != 0) throw Error(JEN1_ERR_FORMAT, err);
    spm_free(impl_->model);
    impl_->model = m;
}

std::vector<int64_t> Tokenizer::encode(const std::string &text, int eos_id) const
{
    char err[512];
    int32_t *ids = nullptr;
    size_t n = 0;
    if (spm_encode(impl_->model, text.data(), text.size(), &ids, &n, err, sizeof err) != 0)
        throw Error(JEN1_ERR_INVALID_ARGUMENT, std::string("cannot tokenise the prompt: ") + err);
    std::vector<int64_t> out(ids, ids + n);
    std::free(ids);
    out.push_back(eos_id);
    return out;
}

int Tokenizer::vocab_size() const { return spm_piece_count(impl_->model); }

}  // namespace jen1
