// spm-oracle - the real sentencepiece library, for parity tests of shim/tokenizer/spm/spm.c.
//
// It links libsentencepiece (and its trainer) and nothing of jen1 or LibTorch:
// Debian's libsentencepiece bundles its own protobuf, which cannot share a
// process with LibTorch's. tests/spm_oracle/encode.c is its jen1 counterpart
// and prints the same formats, so the two outputs can be compared with diff.
//
//   spm-oracle encode MODEL   stdin: corpus lines (see corpus.txt); prints
//                             "LINE<TAB>ids<TAB>pieces" for each string
//   spm-oracle vocab MODEL    piece count, unk/eos/pad ids, then "id<TAB>piece"
//   spm-oracle train --key=value...   trains a model (SentencePieceTrainer)
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Corpus escapes: \\ \n \t \r \xHH; every other byte stands for itself.
bool unescape(const std::string &line, std::string *out) {
  out->clear();
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] != '\\') {
      out->push_back(line[i]);
      continue;
    }
    if (++i == line.size()) return false;
    switch (line[i]) {
      case '\\': out->push_back('\\'); break;
      case 'n': out->push_back('\n'); break;
      case 't': out->push_back('\t'); break;
      case 'r': out->push_back('\r'); break;
      case 'x': {
        if (i + 2 >= line.size()) return false;
        const int hi = hex_digit(line[i + 1]), lo = hex_digit(line[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out->push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        break;
      }
      default: return false;
    }
  }
  return true;
}

// The inverse, for printing pieces on one line.
std::string escape(const std::string &s) {
  std::string out;
  char buf[8];
  for (unsigned char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c == 0x7f) {
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

int load(sentencepiece::SentencePieceProcessor *sp, const char *path) {
  const auto status = sp->Load(path);
  if (!status.ok()) {
    std::fprintf(stderr, "spm-oracle: %s: %s\n", path, status.ToString().c_str());
    return 1;
  }
  return 0;
}

int encode(const char *path) {
  sentencepiece::SentencePieceProcessor sp;
  if (load(&sp, path)) return 1;
  std::string line, text;
  for (long lineno = 1; std::getline(std::cin, line); ++lineno) {
    if (!line.empty() && line[0] == '#') continue;
    if (!unescape(line, &text)) {
      std::fprintf(stderr, "spm-oracle: stdin:%ld: bad escape\n", lineno);
      return 1;
    }
    std::vector<int> ids;
    const auto status = sp.Encode(text, &ids);
    std::cout << lineno << '\t';
    if (!status.ok()) {
      std::cout << "ERROR\n";
      continue;
    }
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << '\t';
    for (size_t i = 0; i < ids.size(); ++i)
      std::cout << (i ? " " : "") << escape(sp.IdToPiece(ids[i]));
    std::cout << '\n';
  }
  return 0;
}

int vocab(const char *path) {
  sentencepiece::SentencePieceProcessor sp;
  if (load(&sp, path)) return 1;
  std::cout << "pieces\t" << sp.GetPieceSize() << "\nunk\t" << sp.unk_id()
            << "\neos\t" << sp.eos_id() << "\npad\t" << sp.pad_id() << '\n';
  for (int id = 0; id < sp.GetPieceSize(); ++id)
    std::cout << id << '\t' << escape(sp.IdToPiece(id)) << '\n';
  return 0;
}

// Each argument is one "--key=value", so values may contain spaces.
int train(int argc, char **argv) {
  std::unordered_map<std::string, std::string> kwargs;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (arg.compare(0, 2, "--") != 0 || eq == std::string::npos) {
      std::fprintf(stderr, "spm-oracle: train: expected --key=value, got %s\n", argv[i]);
      return 2;
    }
    kwargs[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
  }
  const auto status = sentencepiece::SentencePieceTrainer::Train(kwargs);
  if (!status.ok()) {
    std::fprintf(stderr, "spm-oracle: train: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "encode" && argc == 3) return encode(argv[2]);
  if (mode == "vocab" && argc == 3) return vocab(argv[2]);
  if (mode == "train" && argc > 2) return train(argc - 2, argv + 2);
  std::fprintf(stderr,
               "usage: spm-oracle encode MODEL < corpus\n"
               "       spm-oracle vocab MODEL\n"
               "       spm-oracle train --input=... --model_prefix=... [--key=value...]\n");
  return 2;
}
