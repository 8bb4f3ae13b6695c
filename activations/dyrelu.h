// Dynamic ReLU (SPEC 1.6; Chen et al. 2020): y_c = max_k (a_c^k·x_c + b_c^k)
// with coefficients from a hyper function of the whole input:
//   s = mean_hw x → fc1 (C→max(1, C/r)) → ReLU → fc2 → Δ = 2σ(·) − 1,
//   a^k = α^k + λ_a·Δa^k, b^k = β^k + λ_b·Δb^k, α = (1, 0, …), β = 0,
//   λ_a = 1, λ_b = 0.5 (so Δ = 0 is exactly ReLU).
// dyrelu-a shares one set of K lines across channels; -b and -c have one per
// channel; -c multiplies by the spatial attention π = min(γ·softmax_hw(z/τ), 1),
// z = `spatial` 1×1 conv, γ = HW/3. The hyper function is tape ops, so x
// receives gradient through the max and the coefficients; dyrelu-c's fused
// node computes π itself from the conv's weight and bias (one pass over x)
// and gives x, weight and bias their gradients through it. The backward
// recomputes π and the winning lines instead of saving them (N·HW floats and
// an index per element), at the cost of one more read of x.
#pragma once
#include <memory>

#include "activations/activation.h"
#include "activations/cuda_twins.h"
#include "layers/conv2d.h"
#include "layers/linear.h"

namespace actlab {

enum class DyReluKind : uint8_t { a, b, c };

class DyRelu : public Activation {
 public:
  DyRelu(Spec& spec, DyReluKind kind, int64_t channels, Random& rng);
  Saves saves() const override { return Saves::input; }
  std::vector<Var> operands(const Var& x) override;
  void forward_kernel(const Tensor& x, const std::vector<Tensor>& operands, Tensor& y) const override;
  void backward_kernel(const Tensor& x, const Tensor& y, const Tensor& dy, const std::vector<Tensor>& operands,
                       Tensor& dx, std::vector<Tensor>& doperands) const override;
  Var composed(const Var& x) override;

 private:
  Var coefficients(const Var& x);   // [N, C or 1, 2K]: a^1..a^K, b^1..b^K
  Var attention(const Var& x);      // π [N, 1, H, W] from tape ops (dyrelu-c, the composed reference)
#ifdef ACTLAB_HAVE_CUDA
  cuda::DyReluAttention cuda_attention(const std::vector<Tensor>& operands) const;
#endif

  DyReluKind kind_;
  int k_;
  float tau_ = 10.0f;
  std::shared_ptr<Linear> fc1_, fc2_;
  std::shared_ptr<Conv2d> spatial_;
};

}  // namespace actlab
