// PWLU's per-element math (SPEC 1.7), shared by the CPU kernels and their
// CUDA twins. One channel's parameters: n segments between B_L and B_R,
// points Y_0..Y_n, outer slopes K_L and K_R.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/host_device.h"

namespace actlab::pwlu {

struct Channel {
  const float* y;   // n + 1 points
  float left, right, slope_left, slope_right;
  int n;
};

// The segment index clamp(⌊(x − B_L)/d⌋, 0, n − 1), clamped in float before
// the conversion: a NaN x (a diverged network) converts no NaN to int, which
// C++ leaves undefined, and goes to the last segment, where t is NaN and so is
// f. The CPU kernels use it too: written with an int clamp after the
// conversion, GCC does not vectorise their loops ("control flow in loop").
ACTLAB_HD inline int segment(float x, float left, float d, int n) {
  float v = (x - left) / d;
  v = v > 0.0f ? v : 0.0f;
  const float last = static_cast<float>(n - 1);
  v = v < last ? v : last;
  return static_cast<int>(v);
}

ACTLAB_HD inline float value(const Channel& p, float x) {
  if (x < p.left) return (x - p.left) * p.slope_left + p.y[0];
  if (x >= p.right) return (x - p.right) * p.slope_right + p.y[p.n];
  const float d = (p.right - p.left) / static_cast<float>(p.n);
  const int i = segment(x, p.left, d, p.n);
  const float t = (x - (p.left + static_cast<float>(i) * d)) / d;
  return (1.0f - t) * p.y[i] + t * p.y[i + 1];
}

// One element's derivatives: ∂f/∂x, and ∂f/∂(parameter) for the parameters it
// touches: points `i` and `i + 1` (weights w_i, w_i1; i = −1 when none), the
// bounds and the outer slopes.
struct Slopes {
  float x;
  int i;
  float w_i, w_i1;
  float left, right, slope_left, slope_right;
};

ACTLAB_HD inline Slopes slopes(const Channel& p, float x) {
  Slopes s{0.0f, -1, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  if (x < p.left) {
    s.x = p.slope_left;
    s.i = 0, s.w_i = 1.0f;                 // ∂f/∂Y_0 = 1
    s.slope_left = x - p.left;
    s.left = -p.slope_left;
    return s;
  }
  if (x >= p.right) {
    s.x = p.slope_right;
    s.i = p.n - 1, s.w_i1 = 1.0f;          // ∂f/∂Y_n = 1
    s.slope_right = x - p.right;
    s.right = -p.slope_right;
    return s;
  }
  const float width = p.right - p.left, d = width / static_cast<float>(p.n);
  const int i = segment(x, p.left, d, p.n);
  const float t = (x - (p.left + static_cast<float>(i) * d)) / d;
  const float k = (p.y[i + 1] - p.y[i]) / d, u = (x - p.left) / width;
  s.x = k;
  s.i = i, s.w_i = 1.0f - t, s.w_i1 = t;
  s.left = -k * (1.0f - u);
  s.right = -k * u;
  return s;
}

}  // namespace actlab::pwlu
