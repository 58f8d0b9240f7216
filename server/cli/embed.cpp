// `hearth embed -m MODEL TEXT...`: the pooled, L2-normalized embedding of each text with a BERT-style
// encoder model (engine/encoder.h), one JSON object per line: {"input", "tokens", "embedding"}.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "encoder.h"
#include "gguf/gguf_file.h"
#include "tokenizer/vocab.h"

namespace hearth::cli {

int cmd_embed(std::span<char* const> args) {
  options opts("hearth embed -m MODEL TEXT...",
               "Print the embedding of each TEXT as a JSON line {\"input\", \"tokens\", \"embedding\"}: the "
               "encoder's last hidden states pooled as the model says (mean, CLS or last) and L2-normalized.",
               {{"model", 'm', "FILE", "a BERT-style embedding model (general.architecture bert)"}});
  return run_command("embed", opts, args, [&] {
    auto path = opts.get("model");
    if (!path) throw usage_error("missing -m MODEL");
    if (opts.positional().empty()) throw usage_error("expected at least one TEXT argument");
    const gguf_file f = gguf_file::open(*path);
    const vocab v = vocab::from_gguf(f);
    const bert_encoder e = bert_encoder::load(f);
    if (v.size() != e.vocab_size()) {
      throw f.error("the vocabulary has " + std::to_string(v.size()) + " tokens but token_embd.weight has " +
                    std::to_string(e.vocab_size()) + " rows");
    }
    for (const std::string& text : opts.positional()) {
      const std::vector<token_id> tokens = v.tokenize(text, true, false);
      const nlohmann::json line = {{"input", text}, {"tokens", tokens}, {"embedding", e.embed(tokens)}};
      std::printf("%s\n", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    }
    return 0;
  });
}

}  // namespace hearth::cli
