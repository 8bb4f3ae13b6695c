// ReLU: f(x) = max(x, 0), f'(0) = 0 as in PyTorch (SPEC 1.1).
// The backward needs only y: dx = dy·[y > 0]. NaN stays NaN, as in PyTorch
// (core/elementwise_math.h).
#pragma once
#include "activations/activation.h"

namespace actlab {

class Relu : public Activation {
 public:
  explicit Relu(Spec& spec);
  Saves saves() const override { return Saves::output; }
  void forward_kernel(const Tensor& x, const std::vector<Tensor>& operands, Tensor& y) const override;
  void backward_kernel(const Tensor& x, const Tensor& y, const Tensor& dy, const std::vector<Tensor>& operands,
                       Tensor& dx, std::vector<Tensor>& doperands) const override;
  Var composed(const Var& x) override;
};

}  // namespace actlab
