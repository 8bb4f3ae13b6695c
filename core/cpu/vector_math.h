// Vectorised transcendental functions for the CPU kernels over AVX-512 or AVX2
// registers (whichever the build targets): SLEEF's and glibc libmvec's, the
// faster of the two per function (vector_math.cpp); the C library's elsewhere.
// Fused kernels call them on short chunks that stay in L1, so the kernel still
// makes one pass over memory.
#pragma once
#include <cstdint>

namespace actlab::cpu {

// y[i] = f(x[i]) for n elements; x and y may be the same array. Every element goes through the same
// vector function, the tail of a short array included.
void vexp(const float* x, float* y, int64_t n);
void vsigmoid(const float* x, float* y, int64_t n);   // 1/(1 + e^−x)
void vexpm1(const float* x, float* y, int64_t n);
void vlog1p(const float* x, float* y, int64_t n);
void vtanh(const float* x, float* y, int64_t n);
void verf(const float* x, float* y, int64_t n);
void vsin(const float* x, float* y, int64_t n);
void vcos(const float* x, float* y, int64_t n);
void vatan(const float* x, float* y, int64_t n);
void vasinh(const float* x, float* y, int64_t n);

// Elements per chunk for a fused kernel's scratch arrays (L1-sized).
constexpr int64_t kChunk = 256;

}  // namespace actlab::cpu
