#pragma once
// Loading the model a command runs: as the file holds it, or (--quantize TYPE) quantized at
// start-up with a progress bar, for people who have only the F16 file.
#include <memory>
#include <optional>
#include <string>

#include "model/model.h"
#include "model/quant_mix.h"
#include "model/quantize.h"

namespace hearth::cli {

// The mix a --quantize value names (case-insensitive); nullopt for "" (no quantizing). Throws
// std::invalid_argument naming the value and the choices.
std::optional<quant_mix> quantize_choice(const std::string& value);

// Sets o's callbacks to report on stderr, each line prefixed `who`: what is converted (`what`),
// each fallback, a warning when tensors are requantized, then a progress bar by megabytes read.
void report_quantize_progress(quantize_options& o, const std::string& who, const std::string& what);

// model::load(path), or load_quantized with a progress bar on stderr prefixed `who`, weighing
// the error by the importance matrix at `imatrix` when it is not empty (as quantize --imatrix).
// With `pack_cache` (and no quantizing), the repacked weights are kept in path + ".hearth-cache"
// (model/pack_cache.h), what becomes of it logged on stderr prefixed `who`.
// Throws std::invalid_argument for an imatrix without quantize, load_error for a bad file.
std::unique_ptr<model> load_model(const std::string& path, const std::optional<quant_mix>& quantize, int threads,
                                  const char* who, const std::string& imatrix = {}, bool pack_cache = false);

}  // namespace hearth::cli
