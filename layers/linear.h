// Fully connected layer (PyTorch nn.Linear names: weight [out, in], bias [out]).
#pragma once
#include "core/random.h"
#include "layers/module.h"

namespace actlab {

class Linear : public Module {
 public:
  // PyTorch's default init: weight and bias ~ U(−1/√in, 1/√in); with
  // normal_std > 0, weight ~ N(0, normal_std²) and bias 0 (torchvision's
  // MobileNetV2 classifier).
  Linear(int64_t in, int64_t out, Random& rng, bool bias = true, float normal_std = 0.0f);
  Var forward(const Var& x) override;
  std::string kind() const override { return "Linear"; }
  std::string describe() const override;
  int64_t macs(const Shape& in, const Shape& out) const override;

 private:
  int64_t in_, out_;
  Var weight_, bias_;
};

}  // namespace actlab
