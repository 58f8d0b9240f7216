// The AVX2 kernels of the 32-element packed types (packed_kernels_q.h).
#include "kernels/packed_avx2.h"
#include "kernels/packed_kernels_q.h"

namespace hearth::kernels {

void add_quants_avx2(kernel_set& k) { packed::add_q8_kernels<v256, driver256>(k); }

}  // namespace hearth::kernels
