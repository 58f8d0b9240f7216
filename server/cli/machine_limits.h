#pragma once
// The machine's physical limits, measured: DRAM read bandwidth (a streaming sum over 1 GiB),
// int8 dot-product throughput (vpdpbusd, 16 independent chains per thread), fp32 FMA throughput,
// and OpenBLAS sgemm on a prompt-sized product. What hearth's speed is compared against
// (docs/performance.md).
namespace hearth::cli {

// Prints the limits for `threads` threads (and 1 thread); returns the exit code.
int print_machine_limits(int threads, bool json);

}  // namespace hearth::cli
