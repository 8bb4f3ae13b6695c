// The fixed activation functions of SPEC 1.1 (all but ReLU, which has its own
// pair) and their derivatives, written once for the CPU kernels and their CUDA
// twins. Where PyTorch has the function, value and derivative follow its
// kernels, kinks included (ReLU6′(0) = ReLU6′(6) = 0, ELU′(0) = α).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/host_device.h"

namespace actlab {

enum class Pointwise : uint8_t {
  relu6, leaky_relu, silu, gelu, elu, selu, softplus, mish, hard_swish,
  max_sigmoid, cos_minus, min_sin, atan_sq_minus, max_tanh, sinc_plus, x_asinh_sq,
};

namespace pointwise {

constexpr float kSeluAlpha = 1.6732632423543772f, kSeluScale = 1.0507009873554805f;

// min(max(x, lo), hi) that keeps NaN, as torch.clamp does (fminf and fmaxf
// would drop it, and a diverged network would look finite).
ACTLAB_HD inline float clamp(float x, float lo, float hi) { return x <= lo ? lo : (x >= hi ? hi : x); }

ACTLAB_HD inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// PyTorch's softplus (beta 1, threshold 20).
ACTLAB_HD inline float softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

// (sin x / x)′ = (x·cos x − sin x)/x² given sin x and cos x. The difference cancels near 0, losing about
// 1e-7/|x| to rounding, so below 0.1 the Taylor series −x/3 + x³/30 − x⁵/840 takes over (next term
// x⁷/45360, under 3e-12 there).
ACTLAB_HD inline float sinc_slope(float x, float sin_x, float cos_x) {
  if (fabsf(x) < 0.1f) {
    const float x2 = x * x;
    return x * (-1.0f / 3.0f + x2 * (1.0f / 30.0f - x2 * (1.0f / 840.0f)));
  }
  return (x * cos_x - sin_x) / (x * x);
}

// f(x); `option` is leaky-relu's slope or elu's alpha.
ACTLAB_HD inline float value(Pointwise f, float x, float option) {
  switch (f) {
    case Pointwise::relu6: return clamp(x, 0.0f, 6.0f);
    case Pointwise::leaky_relu: return x >= 0.0f ? x : option * x;
    case Pointwise::silu: return x * sigmoid(x);
    case Pointwise::gelu: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case Pointwise::elu: return x > 0.0f ? x : option * expm1f(x);
    case Pointwise::selu: return kSeluScale * (x > 0.0f ? x : kSeluAlpha * expm1f(x));
    case Pointwise::softplus: return softplus(x);
    case Pointwise::mish: return x * tanhf(log1pf(expf(x)));
    case Pointwise::hard_swish: return x * clamp(x + 3.0f, 0.0f, 6.0f) / 6.0f;
    case Pointwise::max_sigmoid: return fmaxf(x, sigmoid(x));
    case Pointwise::cos_minus: return cosf(x) - x;
    case Pointwise::min_sin: return fminf(x, sinf(x));
    case Pointwise::atan_sq_minus: {
      const float a = atanf(x);
      return a * a - x;
    }
    case Pointwise::max_tanh: return fmaxf(x, tanhf(x));
    case Pointwise::sinc_plus: return (x == 0.0f ? 1.0f : sinf(x) / x) + x;
    case Pointwise::x_asinh_sq: {
      const float a = asinhf(x);
      return x * a * a;
    }
  }
  return x;
}

// f′(x)
ACTLAB_HD inline float slope(Pointwise f, float x, float option) {
  switch (f) {
    case Pointwise::relu6: return (x > 0.0f && x < 6.0f) ? 1.0f : 0.0f;
    case Pointwise::leaky_relu: return x > 0.0f ? 1.0f : option;
    case Pointwise::silu: {
      const float s = sigmoid(x);
      return s * (1.0f + x * (1.0f - s));
    }
    case Pointwise::gelu:
      return 0.5f * (1.0f + erff(x * 0.70710678118654752f)) + x * 0.39894228040143268f * expf(-0.5f * x * x);
    case Pointwise::elu: return x > 0.0f ? 1.0f : option * expf(x);
    case Pointwise::selu: return kSeluScale * (x > 0.0f ? 1.0f : kSeluAlpha * expf(x));
    case Pointwise::softplus: return x > 20.0f ? 1.0f : sigmoid(x);
    case Pointwise::mish: {
      const float t = tanhf(log1pf(expf(x)));
      return t + x * sigmoid(x) * (1.0f - t * t);
    }
    case Pointwise::hard_swish: return x < -3.0f ? 0.0f : (x <= 3.0f ? x / 3.0f + 0.5f : 1.0f);
    case Pointwise::max_sigmoid: {
      const float s = sigmoid(x);
      return x >= s ? 1.0f : s * (1.0f - s);
    }
    case Pointwise::cos_minus: return -sinf(x) - 1.0f;
    case Pointwise::min_sin: return x <= sinf(x) ? 1.0f : cosf(x);
    case Pointwise::atan_sq_minus: return 2.0f * atanf(x) / (1.0f + x * x) - 1.0f;
    case Pointwise::max_tanh: {
      const float t = tanhf(x);
      return x >= t ? 1.0f : 1.0f - t * t;
    }
    case Pointwise::sinc_plus: return sinc_slope(x, sinf(x), cosf(x)) + 1.0f;
    case Pointwise::x_asinh_sq: {
      const float a = asinhf(x);
      return a * a + 2.0f * x * a / sqrtf(1.0f + x * x);
    }
  }
  return 1.0f;
}

}  // namespace pointwise
}  // namespace actlab
