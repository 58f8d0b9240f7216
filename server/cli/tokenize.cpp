// `hearth tokenize -m MODEL [--no-bos] TEXT`: the token ids of a text, space-separated.
#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "load_error.h"
#include "model/model.h"

namespace hearth::cli {

int cmd_tokenize(std::span<char* const> args) {
  options opts("hearth tokenize -m MODEL [--no-bos] [--special] TEXT",
               "Print the token ids of TEXT, space-separated.",
               {{"model", 'm', "FILE", "GGUF model file (only its vocabulary is read)"},
                {"no-bos", 0, "", "do not add the BOS token the model asks for"},
                {"special", 0, "", "let control-token texts such as <s> become those tokens"}});
  try {
    if (!opts.parse(args)) return 0;
    auto path = opts.get("model");
    if (!path) throw usage_error("missing -m MODEL");
    if (opts.positional().size() != 1) throw usage_error("expected exactly one TEXT argument");
    gguf_file f = gguf_file::open(*path);
    class vocab v = vocab::from_gguf(f);
    auto ids = v.tokenize(opts.positional()[0], !opts.has("no-bos"), opts.has("special"));
    for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
    std::printf("\n");
    return 0;
  } catch (const usage_error& e) {
    std::fprintf(stderr, "hearth tokenize: %s\n(see hearth tokenize --help)\n", e.what());
    return 2;
  } catch (const load_error& e) {
    std::fprintf(stderr, "hearth tokenize: %s\n", e.what());
    return 1;
  }
}

}  // namespace hearth::cli
