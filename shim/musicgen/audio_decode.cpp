// audio_decode.cpp - EnCodec over a song's codes from C: jen1_codes_to_audio
// at once, or a chunk per call (jen1_audio_decode_*). Both run one
// Encodec::ChunkedDecode, so their audio is the same bit for bit, and the
// same as jen1_generate's (request.cpp's decode_item_audio).
#include <cstdlib>
#include <memory>

#include "boundary.hpp"
#include "errbuf.h"
#include "musicgen.hpp"
#include "request.hpp"

struct jen1_audio_decode {
    at::Tensor codes;  // [1, K, F] on the model's device: the decoder's own copy
    float *audio = nullptr;
    int64_t n_samples = 0;
    std::unique_ptr<jen1::Encodec::ChunkedDecode> chunks;
    ~jen1_audio_decode() { std::free(audio); }
};

namespace {

// What both doors refuse: a missing argument, the wrong codebook count, a
// code outside the codebook, no frames.
jen1_status check_codes(const char *who, const jen1_model *model, const int64_t *codes, int n_codebooks,
                        int n_frames, char *err, size_t errlen)
{
    if (!model || !codes || n_frames < 1) {
        errbuf_printf(err, errlen, "%s: need a model, codes and n_frames >= 1", who);
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    const int K = model->cfg.decoder.num_codebooks, V = model->cfg.decoder.vocab_size;
    if (n_codebooks != K) {
        errbuf_printf(err, errlen, "%s: %d codebooks, the model has %d", who, n_codebooks, K);
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < (size_t)K * (size_t)n_frames; i++)
        if (codes[i] < 0 || codes[i] >= V) {
            errbuf_printf(err, errlen, "%s: code %lld is outside the codebook (0 to %d)", who, (long long)codes[i],
                          V - 1);
            return JEN1_ERR_INVALID_ARGUMENT;
        }
    return JEN1_OK;
}

}  // namespace

using jen1::guarded;

extern "C" {

jen1_status jen1_audio_decode_new(const jen1_model *model, const int64_t *codes, int n_codebooks, int n_frames,
                                  jen1_audio_decode **out, char *err, size_t errlen)
{
    if (!out) {
        errbuf_printf(err, errlen, "jen1_audio_decode_new: out must not be NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    jen1_status st = check_codes("jen1_audio_decode_new", model, codes, n_codebooks, n_frames, err, errlen);
    if (st != JEN1_OK) return st;
    return guarded(err, errlen, [&] {
        at::NoGradGuard no_grad;
        auto d = std::make_unique<jen1_audio_decode>();
        d->codes = at::from_blob(const_cast<int64_t *>(codes), {1, n_codebooks, n_frames}, at::kLong)
                       .to(model->device, /*non_blocking=*/false, /*copy=*/true);
        d->n_samples = (int64_t)n_frames * model->cfg.encodec.hop_length;
        d->audio = jen1::c_alloc<float>((size_t)d->n_samples);
        d->chunks = std::make_unique<jen1::Encodec::ChunkedDecode>(model->encodec, d->codes,
                                                                   jen1::kDecodeChunkFrames, d->audio);
        *out = d.release();
    });
}

jen1_status jen1_audio_decode_next(jen1_audio_decode *d, int *done, char *err, size_t errlen)
{
    if (!d || !done) {
        errbuf_printf(err, errlen, "jen1_audio_decode_next: decoder and done must not be NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *done = 0;
    if (!d->chunks) {
        errbuf_printf(err, errlen, "jen1_audio_decode_next: the audio was taken or an earlier chunk failed");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    jen1_status st = guarded(err, errlen, [&] {
        at::NoGradGuard no_grad;
        d->chunks->next();
        *done = d->chunks->done();
    });
    if (st != JEN1_OK) d->chunks.reset();  // a half-built LSTM state is no place to go on from
    return st;
}

jen1_status jen1_audio_decode_take(jen1_audio_decode *d, float **audio, int64_t *n_samples, char *err,
                                   size_t errlen)
{
    if (!d || !audio || !n_samples) {
        errbuf_printf(err, errlen, "jen1_audio_decode_take: decoder, audio and n_samples must not be NULL");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *audio = nullptr;
    *n_samples = 0;
    if (!d->chunks || !d->chunks->done()) {
        errbuf_printf(err, errlen, "jen1_audio_decode_take: %s",
                      d->chunks ? "chunks are left to decode" : "the audio was taken or a chunk failed");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    d->chunks.reset();
    *audio = d->audio;
    *n_samples = d->n_samples;
    d->audio = nullptr;
    return JEN1_OK;
}

void jen1_audio_decode_free(jen1_audio_decode *d)
{
    delete d;
}

jen1_status jen1_codes_to_audio(const jen1_model *model, const int64_t *codes, int n_codebooks, int n_frames,
                                float **audio, int64_t *n_samples, char *err, size_t errlen)
{
    if (!audio || !n_samples) {
        errbuf_printf(err, errlen, "jen1_codes_to_audio: need a model, codes, outputs and n_frames >= 1");
        return JEN1_ERR_INVALID_ARGUMENT;
    }
    *audio = nullptr;
    *n_samples = 0;
    jen1_status st = check_codes("jen1_codes_to_audio", model, codes, n_codebooks, n_frames, err, errlen);
    if (st != JEN1_OK) return st;
    return guarded(err, errlen, [&] {
        at::NoGradGuard no_grad;
        jen1_output_item item{};
        item.codes = const_cast<int64_t *>(codes);
        item.n_codebooks = n_codebooks;
        item.n_frames = n_frames;
        jen1::decode_item_audio(*model, item);
        *audio = item.audio;
        *n_samples = item.n_samples;
    });
}

}  // extern "C"
