// prompt_cache.cpp - the prompt cache of jen1_text.h and the start every
// batch shares: the KV cache of the prompts' common beginning, computed once
// (or found in the cache), copied to every row, then the rows' own tails
// prefilled in one left-padded pass.
//
// A row's tail may be padded in the middle of its cache (after the shared
// beginning); that is as correct as padding at the front: padding columns are
// never valid keys, and position ids count a row's real tokens only.
#include <algorithm>

#include "boundary.hpp"
#include "qwen2.hpp"

namespace jen1 {

namespace {

// The length of the beginning a and b share, at most cap.
int64_t common_start(const std::vector<int64_t> &a, const std::vector<int64_t> &b, int64_t cap)
{
    int64_t n = std::min<int64_t>({cap, (int64_t)a.size(), (int64_t)b.size()});
    int64_t i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

// Columns [0, keep) of src's row 0 copied into every row of a new cache of
// `rows` rows and `capacity` columns.
TextCache cache_fork(const TextDecoder &d, const TextCache &src, int rows, int capacity, int keep)
{
    TextCache c = cache_begin(d, rows, capacity);
    for (size_t i = 0; i < c.k.size(); i++) {
        c.k[i].narrow(2, 0, keep).copy_(src.k[i].narrow(0, 0, 1).narrow(2, 0, keep));
        c.v[i].narrow(2, 0, keep).copy_(src.v[i].narrow(0, 0, 1).narrow(2, 0, keep));
    }
    c.key_valid.narrow(1, 0, keep).fill_(true);
    c.next_pos.fill_(keep);
    c.length = keep;
    return c;
}

// Brings the one-row cache to hold exactly prefix[0, n): keeps what it holds
// of it, computes the rest in one pass.
void cache_extend(const jen1_text_model &m, jen1_text_cache &pc, const std::vector<int64_t> &prefix, int64_t n)
{
    const int64_t kept = common_start(pc.tokens, prefix, n);
    pc.tokens.assign(prefix.begin(), prefix.begin() + kept);
    if (pc.kv.k.empty()) pc.kv = cache_begin(m.decoder, 1, 0);
    pc.kv.length = (int)kept;
    pc.kv.next_pos.fill_(kept);
    pc.kv.key_valid.narrow(1, kept, pc.kv.key_valid.size(1) - kept).fill_(false);
    if (kept == n) return;
    if (n > pc.kv.k[0].size(2)) {  // grow, by doubling: a chat's prompts grow by turns
        const int64_t capacity = std::max<int64_t>(n, 2 * pc.kv.k[0].size(2));
        pc.kv = cache_fork(m.decoder, pc.kv, 1, (int)capacity, (int)kept);
    }
    at::Tensor ids = at::tensor(std::vector<int64_t>(prefix.begin() + kept, prefix.begin() + n), at::kLong);
    text_forward(m.decoder, pc.kv, ids.view({1, n - kept}).to(m.device),
                 at::ones({1, n - kept}, at::TensorOptions().dtype(at::kLong).device(m.device)));
    pc.tokens.assign(prefix.begin(), prefix.begin() + n);
}

}  // namespace

BatchStart batch_start(const jen1_text_model &m, jen1_text_cache *pc, const std::vector<std::vector<int64_t>> &prompts,
                       int64_t max_shared, int extra_capacity)
{
    BatchStart b;
    b.shared = 0;
    if (pc) {
        if (pc->model != &m) throw Error(JEN1_ERR_INVALID_ARGUMENT, "the prompt cache belongs to another model");
        b.shared = std::max<int64_t>(0, max_shared);
        for (const auto &p : prompts) b.shared = common_start(prompts[0], p, b.shared);
        cache_extend(m, *pc, prompts[0], b.shared);
    }
    std::vector<std::vector<int64_t>> tails;
    for (const auto &p : prompts) tails.emplace_back(p.begin() + b.shared, p.end());
    left_pad(tails, m.cfg.generation.pad_token_id, b.ids, b.mask);
    const int64_t rows = (int64_t)prompts.size(), capacity = b.shared + b.ids.size(1) + extra_capacity;
    b.kv = pc ? cache_fork(m.decoder, pc->kv, (int)rows, (int)capacity, (int)b.shared)
              : cache_begin(m.decoder, (int)rows, (int)capacity);
    b.h = text_forward(m.decoder, b.kv, b.ids.to(m.device), b.mask.to(m.device));
    return b;
}

}  // namespace jen1

extern "C" {

jen1_status jen1_text_cache_new(const jen1_text_model *model, jen1_text_cache **out, char *err, size_t errlen)
{
    if (!model || !out) {
        errbuf_printf(err, errlen, "jen1_text_cache_new: model and out must not be NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    return jen1::guarded(err, errlen, [&] {
        jen1_text_cache *c = new jen1_text_cache();
        c->model = model;
        *out = c;
    });
}

void jen1_text_cache_free(jen1_text_cache *cache) { delete cache; }

int jen1_text_cache_tokens(const jen1_text_cache *cache) { return cache ? (int)cache->tokens.size() : 0; }

}  // extern "C"
