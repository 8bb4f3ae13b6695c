// Vectorised transcendental functions for the CPU kernels: SLEEF's 1.0-ulp
// expf over AVX-512 or AVX2 registers (whichever the build targets), plain
// std::exp elsewhere. Fused kernels call them on short chunks that stay in L1,
// so the kernel still makes one pass over memory.
#pragma once
#include <cstdint>

namespace actlab::cpu {

// y[i] = e^x[i]; x and y may be the same array.
void vexp(const float* x, float* y, int64_t n);

// Elements per chunk for a fused kernel's scratch arrays (L1-sized).
constexpr int64_t kChunk = 256;

}  // namespace actlab::cpu
