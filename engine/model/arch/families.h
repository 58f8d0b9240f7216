#pragma once
// The descriptor of each family hearth runs, one file each (see model/arch.h); registry.cpp
// lists them.
#include "model/arch.h"
#include "model/hparams.h"

namespace hearth::arch {

extern const arch_desc llama;
extern const arch_desc qwen2;
extern const arch_desc qwen3;
extern const arch_desc gemma;
extern const arch_desc gemma2;
extern const arch_desc gemma3;
extern const arch_desc phi3;

}  // namespace hearth::arch
