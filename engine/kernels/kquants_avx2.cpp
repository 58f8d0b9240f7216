// The AVX2 kernels of the 256-element packed types (packed_kernels_k.h).
#include "kernels/packed_avx2.h"
#include "kernels/packed_kernels_k.h"

namespace hearth::kernels {

void add_kquants_avx2(kernel_set& k) { packed::add_k_kernels<v256, driver256>(k); }

}  // namespace hearth::kernels
