// Per-element math of the per-channel parametric activations (PReLU, Swish,
// ACON), written once for the CPU kernels and their CUDA twins.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/host_device.h"

namespace actlab {

// How ACON's β is shared: [1, C, 1, 1] per channel (ACON, Swish), [N, C, 1, 1]
// per sample and channel, [N, 1, 1, 1] per sample (Meta-ACON's channel and
// layer spaces), or β = σ(x) at each element, computed by the kernel itself
// (Meta-ACON's pixel space: no β tensor).
enum class BetaMode : uint8_t { channel, sample_channel, sample, input };

// β's index for plane (n, c) in the first three modes.
ACTLAB_HD inline int64_t beta_index(BetaMode mode, int64_t n, int64_t c, int64_t C) {
  return mode == BetaMode::channel ? c : mode == BetaMode::sample ? n : n * C + c;
}

}  // namespace actlab

namespace actlab::channel {

// ACON's smooth maximum S_β(a·x, b·x) = d·σ(β·d) + b·x with d = (a − b)·x.
ACTLAB_HD inline float acon_value(float x, float a, float b, float beta) {
  const float d = (a - b) * x;
  return d / (1.0f + expf(-beta * d)) + b * x;
}

// Its derivatives: ∂y/∂x, ∂y/∂a (∂y/∂b = x − ∂y/∂a) and ∂y/∂β (SPEC 1.4).
struct AconSlopes {
  float x, a, beta;
};

ACTLAB_HD inline AconSlopes acon_slopes(float x, float a, float b, float beta) {
  const float d = (a - b) * x;
  const float s = 1.0f / (1.0f + expf(-beta * d));
  const float ds = s * (1.0f - s);
  const float inner = s + beta * d * ds;
  return {(a - b) * inner + b, x * inner, d * d * ds};
}

// Meta-ACON's pixel space, β = σ(x): the same function, and a slope in x that
// adds the path through β, ∂y/∂β · σ′(x) with σ′ = β(1 − β).
ACTLAB_HD inline float acon_pixel_value(float x, float a, float b) {
  return acon_value(x, a, b, 1.0f / (1.0f + expf(-x)));
}

ACTLAB_HD inline AconSlopes acon_pixel_slopes(float x, float a, float b) {
  const float beta = 1.0f / (1.0f + expf(-x));
  AconSlopes s = acon_slopes(x, a, b, beta);
  s.x += s.beta * beta * (1.0f - beta);
  return s;
}

// PReLU: x if x > 0 else w·x (PyTorch's convention at 0 gives the same value).
ACTLAB_HD inline float prelu_value(float x, float w) { return x > 0.0f ? x : w * x; }

}  // namespace actlab::channel
