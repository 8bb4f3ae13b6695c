// Deterministic vectorised sums for the CPU kernels (see LaneSums).
#pragma once
#include <cstdint>

namespace actlab::cpu {

// Sums in double over 16 lanes that the compiler keeps in vector registers
// (one running sum would be a chain of dependent adds, 4 cycles an element),
// added at the end in a fixed tree: the same result on every run and for any
// thread count.
constexpr int kSumLanes = 16;

// Σ of kSumLanes lanes as a balanced tree (depth 4, not a chain of 15 adds):
// lane l + lane l + 8, then + 4, + 2, + 1; the lanes are left as they are.
template <class T>
T tree_sum(const T* lane) {
  static_assert(kSumLanes == 16);
  T half[8], quarter[4];
  for (int l = 0; l < 8; ++l) half[l] = lane[l] + lane[l + 8];
  for (int l = 0; l < 4; ++l) quarter[l] = half[l] + half[l + 4];
  return (quarter[0] + quarter[2]) + (quarter[1] + quarter[3]);
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

  double total() const { return tree_sum(lane); }
};

}  // namespace actlab::cpu
