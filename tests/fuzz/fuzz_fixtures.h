#pragma once
// Real inputs the fuzz targets share, read once from ../shared: vocabularies and chat templates.
// Not thread-safe (each fuzz process is single-threaded; the replay test runs on one thread).
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace hearth::fuzz {

// The vocabulary of ../shared/vocab/<file>, loaded on first use. Throws load_error.
const vocab& shared_vocab(std::string_view file);

// Every ../shared/templates/*.jinja (sorted by name), after "" (a model without a template).
const std::vector<std::string>& shared_chat_templates();

}  // namespace hearth::fuzz
