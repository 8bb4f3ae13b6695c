// The ACON family (SPEC 1.3, 1.4; Ma et al. 2021) and Swish with trainable β
// (Ramachandran et al. 2017): one smooth maximum per channel,
//   y = S_β(A·x, B·x) = d·σ(β·d) + B·x,  d = (A − B)·x,
// with A = 1, B = 0 for swish and acon-a (y = x·σ(βx)); A = 1, B = p for
// acon-b; A = p1, B = p2 for acon-c. β, p, p1, p2 are [1, C, 1, 1].
#pragma once
#include "activations/activation.h"
#include "activations/channel_math.h"

namespace actlab {

enum class AconKind : uint8_t { swish, acon_a, acon_b, acon_c, meta_acon };

// β's sharing (channel_math.h) from its shape against x's (the first three modes).
BetaMode beta_mode(const Tensor& x, const Tensor& beta);

class Acon : public Activation {
 public:
  Acon(Spec& spec, AconKind kind, int64_t channels, Random& rng);
  // Swish and ACON-A (B = 0) also keep y: their backward reads σ = y/x from it.
  Saves saves() const override {
    return kind_ == AconKind::swish || kind_ == AconKind::acon_a ? Saves::both : Saves::input;
  }
  void forward_kernel(const Tensor& x, const std::vector<Tensor>& operands, Tensor& y) const override;
  void backward_kernel(const Tensor& x, const Tensor& y, const Tensor& dy, const std::vector<Tensor>& operands,
                       Tensor& dx, std::vector<Tensor>& doperands) const override;
  Var composed(const Var& x) override;

 protected:
  AconKind kind_;
  bool beta_from_input_ = false;   // Meta-ACON's pixel space: β = σ(x) inside the kernels, no β operand
};

}  // namespace actlab
