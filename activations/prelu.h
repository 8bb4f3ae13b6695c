// PReLU (SPEC 1.2): x if x > 0 else w_c·x, `weight` [C] initialised to `init`
// (0.25, as PyTorch's nn.PReLU(C)). The backward needs only x.
#pragma once
#include "activations/activation.h"

namespace actlab {

class Prelu : public Activation {
 public:
  Prelu(Spec& spec, int64_t channels);
  Saves saves() const override { return Saves::input; }
  void forward_kernel(const Tensor& x, const std::vector<Tensor>& operands, Tensor& y) const override;
  void backward_kernel(const Tensor& x, const Tensor& y, const Tensor& dy, const std::vector<Tensor>& operands,
                       Tensor& dx, std::vector<Tensor>& doperands) const override;
  Var composed(const Var& x) override;
};

}  // namespace actlab
