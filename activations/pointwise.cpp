// The fixed functions' fused CPU kernels and their composed references
// (see pointwise.h). The CPU kernels are pointwise_math.h's formulas
// vectorised over chunks; the CUDA twins (pointwise.cu) evaluate them as written.
#include "activations/pointwise.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "activations/cuda_twins.h"
#include "autograd/ops.h"
#include "core/cpu/vector_math.h"
#include "core/error.h"

namespace actlab {

PointwiseActivation::PointwiseActivation(Spec& spec, Pointwise function)
    : Activation(spec.text()), function_(function) {
  if (function == Pointwise::leaky_relu) option_ = spec.get_float("slope", 0.01f);
  if (function == Pointwise::elu) option_ = spec.get_float("alpha", 1.0f);
  spec.finish();
}

namespace {

using cpu::kChunk;

// body(begin, count) over [0, n) in chunks of at most kChunk elements, in parallel for large tensors.
// A chunk's transcendentals go through vector_math.h (SLEEF, libmvec) into L1-sized scratch, and the formulas
// around them are plain loops the compiler vectorises, so each kernel makes one pass over memory.
template <class Body>
void by_chunks(int64_t n, const Body& body) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t c = 0; c < chunks; ++c) body(c * kChunk, std::min(kChunk, n - c * kChunk));
}

// ELU's α and the output scale: the option and 1, or SELU's constants.
std::pair<float, float> elu_constants(Pointwise f, float option) {
  if (f == Pointwise::selu) return {pointwise::kSeluAlpha, pointwise::kSeluScale};
  return {option, 1.0f};
}

// y = f(x) over m ≤ kChunk elements: pointwise::value, vectorised.
void forward_chunk(Pointwise f, float option, const float* x, float* y, int64_t m) {
  float a[kChunk];
  if (m <= 0) return;   // never, but it tells GCC the scratch is written before it is read
  switch (f) {
    case Pointwise::relu6:
      for (int64_t i = 0; i < m; ++i) y[i] = pointwise::clamp(x[i], 0.0f, 6.0f);
      return;
    case Pointwise::leaky_relu:
      for (int64_t i = 0; i < m; ++i) y[i] = x[i] >= 0.0f ? x[i] : option * x[i];
      return;
    case Pointwise::silu:
      cpu::vsigmoid(x, a, m);
      for (int64_t i = 0; i < m; ++i) y[i] = x[i] * a[i];
      return;
    case Pointwise::gelu:
      for (int64_t i = 0; i < m; ++i) a[i] = x[i] * 0.70710678118654752f;
      cpu::verf(a, a, m);
      for (int64_t i = 0; i < m; ++i) y[i] = 0.5f * x[i] * (1.0f + a[i]);
      return;
    case Pointwise::elu:
    case Pointwise::selu: {
      const auto [alpha, scale] = elu_constants(f, option);
      for (int64_t i = 0; i < m; ++i) a[i] = std::min(x[i], 0.0f);
      cpu::vexpm1(a, a, m);
      for (int64_t i = 0; i < m; ++i) y[i] = scale * (x[i] > 0.0f ? x[i] : alpha * a[i]);
      return;
    }
    case Pointwise::softplus:
      for (int64_t i = 0; i < m; ++i) a[i] = std::min(x[i], 20.0f);
      cpu::vexp(a, a, m);
      cpu::vlog1p(a, a, m);
      for (int64_t i = 0; i < m; ++i) y[i] = x[i] > 20.0f ? x[i] : a[i];
      return;
    case Pointwise::mish:   // x·tanh(softplus(x)); softplus's threshold is immaterial: tanh is 1 there
      cpu::vexp(x, a, m);
      cpu::vlog1p(a, a, m);
      cpu::vtanh(a, a, m);
      for (int64_t i = 0; i < m; ++i) y[i] = x[i] * a[i];
      return;
    case Pointwise::hard_swish:
      for (int64_t i = 0; i < m; ++i) y[i] = x[i] * pointwise::clamp(x[i] + 3.0f, 0.0f, 6.0f) / 6.0f;
      return;
    case Pointwise::max_sigmoid:
      cpu::vsigmoid(x, a, m);
      for (int64_t i = 0; i < m; ++i) y[i] = std::max(x[i], a[i]);
      return;
    case Pointwise::cos_minus:
      cpu::vcos(x, a, m);
      for (int64_t i = 0; i < m; ++i) y[i] = a[i] - x[i];
      return;
    case Pointwise::min_sin:
      cpu::vsin(x, a, m);
      for (int64_t i = 0; i < m; ++i) y[i] = std::min(x[i], a[i]);
      return;
    case Pointwise::atan_sq_minus:
      cpu::vatan(x, a, m);
      for (int64_t i = 0; i < m; ++i) y[i] = a[i] * a[i] - x[i];
      return;
    case Pointwise::max_tanh:
      cpu::vtanh(x, a, m);
      for (int64_t i = 0; i < m; ++i) y[i] = std::max(x[i], a[i]);
      return;
    case Pointwise::sinc_plus:
      cpu::vsin(x, a, m);
      for (int64_t i = 0; i < m; ++i) y[i] = (x[i] == 0.0f ? 1.0f : a[i] / x[i]) + x[i];
      return;
    case Pointwise::x_asinh_sq:
      cpu::vasinh(x, a, m);
      for (int64_t i = 0; i < m; ++i) y[i] = x[i] * a[i] * a[i];
      return;
  }
}

// y/x, the factor SiLU, GELU and Mish put on x (σ(x), Φ(x), tanh(softplus(x))), read back from the
// saved output instead of computed again; `at_zero` is its value at x = 0.
float factor(float x, float y, float at_zero) { return std::fabs(x) < 1e-30f ? at_zero : y / x; }

// dx = dy·f′(x) over m ≤ kChunk elements: pointwise::slope, vectorised; y = f(x) for the functions whose
// saves() keeps it.
void backward_chunk(Pointwise f, float option, const float* x, const float* y, const float* dy, float* dx,
                    int64_t m) {
  float a[kChunk], b[kChunk];
  if (m <= 0) return;   // never, but it tells GCC the scratch is written before it is read
  switch (f) {
    case Pointwise::relu6:
      for (int64_t i = 0; i < m; ++i) dx[i] = x[i] > 0.0f && x[i] < 6.0f ? dy[i] : 0.0f;
      return;
    case Pointwise::leaky_relu:
      for (int64_t i = 0; i < m; ++i) dx[i] = x[i] > 0.0f ? dy[i] : option * dy[i];
      return;
    case Pointwise::silu:   // σ(x)·(1 + x·(1 − σ(x))), σ(x) = y/x
      for (int64_t i = 0; i < m; ++i) {
        const float s = factor(x[i], y[i], 0.5f);
        dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
      }
      return;
    case Pointwise::gelu:   // Φ(x) + x·φ(x), Φ(x) = y/x
      for (int64_t i = 0; i < m; ++i) b[i] = -0.5f * x[i] * x[i];
      cpu::vexp(b, b, m);
      for (int64_t i = 0; i < m; ++i)
        dx[i] = dy[i] * (factor(x[i], y[i], 0.5f) + x[i] * 0.39894228040143268f * b[i]);
      return;
    case Pointwise::elu:
    case Pointwise::selu: {
      const auto [alpha, scale] = elu_constants(f, option);
      for (int64_t i = 0; i < m; ++i) a[i] = std::min(x[i], 0.0f);
      cpu::vexp(a, a, m);
      for (int64_t i = 0; i < m; ++i) dx[i] = dy[i] * scale * (x[i] > 0.0f ? 1.0f : alpha * a[i]);
      return;
    }
    case Pointwise::softplus:
      cpu::vsigmoid(x, a, m);
      for (int64_t i = 0; i < m; ++i) dx[i] = x[i] > 20.0f ? dy[i] : dy[i] * a[i];
      return;
    case Pointwise::mish:   // t + x·σ(x)·(1 − t²), t = tanh(softplus(x)) = y/x (0.6 at x = 0)
      cpu::vsigmoid(x, b, m);
      for (int64_t i = 0; i < m; ++i) {
        const float t = factor(x[i], y[i], 0.6f);
        dx[i] = dy[i] * (t + x[i] * b[i] * (1.0f - t * t));
      }
      return;
    case Pointwise::hard_swish:
      for (int64_t i = 0; i < m; ++i)
        dx[i] = x[i] < -3.0f ? 0.0f : (x[i] <= 3.0f ? dy[i] * (x[i] / 3.0f + 0.5f) : dy[i]);
      return;
    case Pointwise::max_sigmoid:
      cpu::vsigmoid(x, a, m);
      for (int64_t i = 0; i < m; ++i) {
        const float s = a[i];
        dx[i] = x[i] >= s ? dy[i] : dy[i] * s * (1.0f - s);
      }
      return;
    case Pointwise::cos_minus:
      cpu::vsin(x, a, m);
      for (int64_t i = 0; i < m; ++i) dx[i] = dy[i] * (-a[i] - 1.0f);
      return;
    case Pointwise::min_sin:
      cpu::vsin(x, a, m);
      cpu::vcos(x, b, m);
      for (int64_t i = 0; i < m; ++i) dx[i] = x[i] <= a[i] ? dy[i] : dy[i] * b[i];
      return;
    case Pointwise::atan_sq_minus:
      cpu::vatan(x, a, m);
      for (int64_t i = 0; i < m; ++i) dx[i] = dy[i] * (2.0f * a[i] / (1.0f + x[i] * x[i]) - 1.0f);
      return;
    case Pointwise::max_tanh:
      cpu::vtanh(x, a, m);
      for (int64_t i = 0; i < m; ++i) dx[i] = x[i] >= a[i] ? dy[i] : dy[i] * (1.0f - a[i] * a[i]);
      return;
    case Pointwise::sinc_plus:
      cpu::vsin(x, a, m);
      cpu::vcos(x, b, m);
      for (int64_t i = 0; i < m; ++i) dx[i] = dy[i] * (pointwise::sinc_slope(x[i], a[i], b[i]) + 1.0f);
      return;
    case Pointwise::x_asinh_sq:
      cpu::vasinh(x, a, m);
      for (int64_t i = 0; i < m; ++i)
        dx[i] = dy[i] * (a[i] * a[i] + 2.0f * x[i] * a[i] / std::sqrt(1.0f + x[i] * x[i]));
      return;
  }
}

}  // namespace

void PointwiseActivation::forward_kernel(const Tensor& x, const std::vector<Tensor>&, Tensor& y) const {
#ifdef ACTLAB_HAVE_CUDA
  if (x.device() == Device::cuda) return cuda::pointwise_forward(function_, option_, x, y);
#endif
  const float* in = x.data();
  float* out = y.data();
  by_chunks(x.numel(),
            [&](int64_t begin, int64_t m) { forward_chunk(function_, option_, in + begin, out + begin, m); });
}

void PointwiseActivation::backward_kernel(const Tensor& x, const Tensor& y, const Tensor& dy,
                                          const std::vector<Tensor>&, Tensor& dx, std::vector<Tensor>&) const {
#ifdef ACTLAB_HAVE_CUDA
  if (x.device() == Device::cuda) return cuda::pointwise_backward(function_, option_, x, dy, dx);
#endif
  const float* in = x.data();
  const float* value = y.defined() ? y.data() : nullptr;
  const float* g = dy.data();
  float* out = dx.data();
  by_chunks(x.numel(), [&](int64_t begin, int64_t m) {
    backward_chunk(function_, option_, in + begin, value ? value + begin : nullptr, g + begin, out + begin, m);
  });
}

// SiLU, GELU and Mish keep their output too (the next layer holds it anyway): the backward reads their
// factor on x back as y/x instead of evaluating exp, erf, or exp, log1p and tanh again.
Saves PointwiseActivation::saves() const {
  const Pointwise f = function_;
  return f == Pointwise::silu || f == Pointwise::gelu || f == Pointwise::mish ? Saves::both : Saves::input;
}

// Each function built from tape primitives only, as a student would write it.
Var PointwiseActivation::composed(const Var& x) {
  using namespace ops;
  auto c = [&](float v) { return scalar(v, x.device()); };
  // Stable log(1 + e^x) = relu(x) + log(1 + e^−|x|).
  auto softplus = [&](const Var& v) { return add(relu(v), log(affine(exp(neg(unary(UnaryOp::abs, v))), 1.0f, 1.0f))); };
  switch (function_) {
    case Pointwise::relu6: return minimum(relu(x), c(6.0f));
    case Pointwise::leaky_relu: return sub(relu(x), affine(relu(neg(x)), option_, 0.0f));
    case Pointwise::silu: return mul(x, sigmoid(x));
    case Pointwise::gelu:
      return mul(affine(x, 0.5f, 0.0f), affine(unary(UnaryOp::erf, affine(x, 0.70710678118654752f, 0.0f)), 1.0f, 1.0f));
    case Pointwise::elu: {
      const Var negative = affine(affine(exp(minimum(x, c(0.0f))), 1.0f, -1.0f), option_, 0.0f);
      return add(relu(x), negative);
    }
    case Pointwise::selu: {
      const Var negative = affine(affine(exp(minimum(x, c(0.0f))), 1.0f, -1.0f), pointwise::kSeluAlpha, 0.0f);
      return affine(add(relu(x), negative), pointwise::kSeluScale, 0.0f);
    }
    case Pointwise::softplus: return softplus(x);
    case Pointwise::mish: return mul(x, tanh(softplus(x)));
    case Pointwise::hard_swish: return mul(x, affine(minimum(relu(affine(x, 1.0f, 3.0f)), c(6.0f)), 1.0f / 6.0f, 0.0f));
    case Pointwise::max_sigmoid: return maximum(x, sigmoid(x));
    case Pointwise::cos_minus: return sub(unary(UnaryOp::cos, x), x);
    case Pointwise::min_sin: return minimum(x, unary(UnaryOp::sin, x));
    case Pointwise::atan_sq_minus: return sub(unary(UnaryOp::square, unary(UnaryOp::atan, x)), x);
    case Pointwise::max_tanh: return maximum(x, tanh(x));
    case Pointwise::sinc_plus: return add(div(unary(UnaryOp::sin, x), x), x);   // undefined at exactly 0
    case Pointwise::x_asinh_sq: return mul(x, unary(UnaryOp::square, unary(UnaryOp::asinh, x)));
  }
  fail("pointwise activation: unknown function");
}

}  // namespace actlab
