// Meta-ACON (SPEC 1.5; Ma et al. 2021): ACON-C whose switching factor β is
// generated from the input, per sample:
//   space=channel  β = σ(bn2(fc2(bn1(fc1(mean_hw x)))))   [N, C, 1, 1]
//                  (fc1: 1×1 conv C→max(r, C/r), fc2: back to C, both with
//                  bias, no nonlinearity between; bn=false drops the BNs)
//   space=layer    β = σ(mean of x over C, H, W)           [N, 1, 1, 1]
//   space=pixel    β = σ(x)                                [N, C, H, W]
// The channel and layer generators are built from tape ops, so x receives
// gradient both directly and through β; the fused ACON kernels (acon.cpp,
// acon.cu) do the rest. The pixel space's β = σ(x) is computed inside those
// kernels, forward and backward, so neither β nor its gradient is ever a
// tensor (composed() still builds it from tape ops). β is recomputed from x
// each step rather than stored beyond the step.
#pragma once
#include <memory>

#include "activations/acon.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"

namespace actlab {

class MetaAcon : public Acon {
 public:
  MetaAcon(Spec& spec, int64_t channels, Random& rng);
  std::vector<Var> operands(const Var& x) override;
  Var composed(const Var& x) override;

 private:
  Var beta(const Var& x);   // the generator

  enum class Space { channel, layer, pixel } space_;
  bool bn_ = true;
  std::shared_ptr<Conv2d> fc1_, fc2_;
  std::shared_ptr<BatchNorm2d> bn1_, bn2_;
};

}  // namespace actlab
