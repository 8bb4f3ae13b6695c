// The fixed functions' fused CPU kernels and their composed references
// (see pointwise.h). The CUDA twins are in pointwise.cu.
#include "activations/pointwise.h"

#include "activations/cuda_twins.h"
#include "autograd/ops.h"
#include "core/error.h"

namespace actlab {

PointwiseActivation::PointwiseActivation(Spec& spec, Pointwise function) : Activation(spec.text()), function_(function) {
  if (function == Pointwise::leaky_relu) option_ = spec.get_float("slope", 0.01f);
  if (function == Pointwise::elu) option_ = spec.get_float("alpha", 1.0f);
  spec.finish();
}

void PointwiseActivation::forward_kernel(const Tensor& x, const std::vector<Tensor>&, Tensor& y) const {
#ifdef ACTLAB_HAVE_CUDA
  if (x.device() == Device::cuda) return cuda::pointwise_forward(function_, option_, x, y);
#endif
  const float* in = x.data();
  float* out = y.data();
  const int64_t n = x.numel();
  const Pointwise f = function_;
  const float option = option_;
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) out[i] = pointwise::value(f, in[i], option);
}

void PointwiseActivation::backward_kernel(const Tensor& x, const Tensor&, const Tensor& dy, const std::vector<Tensor>&,
                                          Tensor& dx, std::vector<Tensor>&) const {
#ifdef ACTLAB_HAVE_CUDA
  if (x.device() == Device::cuda) return cuda::pointwise_backward(function_, option_, x, dy, dx);
#endif
  const float* in = x.data();
  const float* g = dy.data();
  float* out = dx.data();
  const int64_t n = x.numel();
  const Pointwise f = function_;
  const float option = option_;
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] * pointwise::slope(f, in[i], option);
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
