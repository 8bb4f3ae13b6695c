// One pooling window (output p, q of one plane), for the CPU kernels and
// their CUDA twins.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/host_device.h"
#include "core/kernels.h"

namespace actlab::pooling {

// The window's maximum; `where` gets its flat index in the plane (the first
// maximum, or a NaN, wins).
ACTLAB_HD inline float max_window(const PoolShape& s, const float* in, int64_t p, int64_t q, int64_t& where) {
  float best = -INFINITY;
  where = -1;
  for (int r = 0; r < s.kernel; ++r) {
    const int64_t h = p * s.stride - s.pad + r;
    if (h < 0 || h >= s.H) continue;
    for (int t = 0; t < s.kernel; ++t) {
      const int64_t w = q * s.stride - s.pad + t;
      if (w < 0 || w >= s.W) continue;
      const float v = in[h * s.W + w];
      if (v > best || where < 0 || v != v) {
        best = v;
        where = h * s.W + w;
      }
    }
  }
  return best;
}

// The window's sum (zero padding included; the caller divides by kernel²).
ACTLAB_HD inline float sum_window(const PoolShape& s, const float* in, int64_t p, int64_t q) {
  float sum = 0.0f;
  for (int r = 0; r < s.kernel; ++r) {
    const int64_t h = p * s.stride - s.pad + r;
    if (h < 0 || h >= s.H) continue;
    for (int t = 0; t < s.kernel; ++t) {
      const int64_t w = q * s.stride - s.pad + t;
      if (w >= 0 && w < s.W) sum += in[h * s.W + w];
    }
  }
  return sum;
}

}  // namespace actlab::pooling
