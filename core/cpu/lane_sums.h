// Deterministic vectorised sums for the CPU kernels (see LaneSums).
#pragma once
#include <cstdint>

namespace actlab::cpu {

// Sums in double over 16 lanes that the compiler keeps in vector registers
// (one running sum would be a chain of dependent adds, 4 cycles an element),
// added at the end in a fixed tree: the same result on every run and for any
// thread count.
constexpr int kSumLanes = 16;

// Σ of kSumLanes lanes as a balanced tree (depth 4, not a chain of 15 adds);
// overwrites the lanes.
template <class T>
T tree_sum(T* lane) {
  for (int width = kSumLanes / 2; width > 0; width /= 2)
    for (int l = 0; l < width; ++l) lane[l] += lane[l + width];
  return lane[0];
}

struct LaneSums {
  double lane[kSumLanes] = {};

  // lane[i mod 16] += f(i) for i in [0, n).
  template <class F>
  void add(int64_t n, F f) {
    int64_t i = 0;
    for (; i + kSumLanes <= n; i += kSumLanes) {
#pragma omp simd
      for (int l = 0; l < kSumLanes; ++l) lane[l] += f(i + l);
    }
    for (int l = 0; i < n; ++i, ++l) lane[l] += f(i);
  }

  double total() { return tree_sum(lane); }
};

}  // namespace actlab::cpu
