// DyReLU's per-element work, shared by the CPU kernels and their CUDA twins:
// the winning line of max_k (a^k·x + b^k) for one element.
#pragma once
#include <cstdint>

#include "core/host_device.h"

namespace actlab::dyrelu {

// coef points at one (sample, channel)'s 2K values: a^1..a^K then b^1..b^K.
// Ties go to the lowest k (as torch.max returns the first maximum).
ACTLAB_HD inline int winner(const float* coef, int K, float x, float& value) {
  int best = 0;
  value = coef[0] * x + coef[K];
  for (int k = 1; k < K; ++k) {
    const float v = coef[k] * x + coef[K + k];
    if (v > value) value = v, best = k;
  }
  return best;
}

}  // namespace actlab::dyrelu
