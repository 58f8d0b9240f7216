// The AVX-512 VNNI kernels of the 256-element packed types (packed_kernels_k.h).
#include "kernels/packed_avx512.h"
#include "kernels/packed_kernels_k.h"

namespace hearth::kernels {

void add_kquants_avx512(kernel_set& k) { packed::add_k_kernels<v512, driver512>(k); }

}  // namespace hearth::kernels
