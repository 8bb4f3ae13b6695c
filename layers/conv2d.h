// 2-D convolution layer (PyTorch nn.Conv2d names: weight [K, C/groups, R, S], bias [K]).
#pragma once
#include "core/random.h"
#include "layers/module.h"

namespace actlab {

struct Conv2dOptions {
  int64_t in, out;
  int kernel = 3, stride = 1, pad = 0, groups = 1;
  bool bias = false;
};

class Conv2d : public Module {
 public:
  // Weights ~ N(0, 2/fan_out) with fan_out = out·R·S (He init as torchvision's ResNet and
  // MobileNetV2 call it); bias 0.
  Conv2d(const Conv2dOptions& options, Random& rng);
  Var forward(const Var& x) override;
  std::string kind() const override { return "Conv2d"; }
  std::string describe() const override;
  int64_t macs(const Shape& in, const Shape& out) const override;
  const Conv2dOptions& options() const { return options_; }

 private:
  Conv2dOptions options_;
  Var weight_, bias_;
};

}  // namespace actlab
