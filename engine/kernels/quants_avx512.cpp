// The AVX-512 VNNI kernels of the 32-element packed types (packed_kernels_q.h).
#include "kernels/packed_avx512.h"
#include "kernels/packed_kernels_q.h"

namespace hearth::kernels {

void add_quants_avx512(kernel_set& k) { packed::add_q8_kernels<v512, driver512>(k); }

}  // namespace hearth::kernels
