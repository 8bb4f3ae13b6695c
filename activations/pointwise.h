// The fixed activation functions of SPEC 1.1 other than ReLU: relu6,
// leaky-relu(slope), silu, gelu, elu(alpha), selu, softplus, mish, hard-swish
// and the Swish paper's search results (max-sigmoid, cos-minus, min-sin,
// atan-sq-minus, max-tanh, sinc-plus, x-asinh-sq). No parameters; the fused
// kernels evaluate pointwise_math.h; the backward needs x, and y for SiLU, GELU and Mish.
#pragma once
#include "activations/activation.h"
#include "activations/pointwise_math.h"

namespace actlab {

class PointwiseActivation : public Activation {
 public:
  PointwiseActivation(Spec& spec, Pointwise function);
  Saves saves() const override;
  void forward_kernel(const Tensor& x, const std::vector<Tensor>& operands, Tensor& y) const override;
  void backward_kernel(const Tensor& x, const Tensor& y, const Tensor& dy, const std::vector<Tensor>& operands,
                       Tensor& dx, std::vector<Tensor>& doperands) const override;
  Var composed(const Var& x) override;

 private:
  Pointwise function_;
  float option_ = 0.0f;   // leaky-relu's slope, elu's alpha
};

}  // namespace actlab
