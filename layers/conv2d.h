// 2-D convolution layer (PyTorch nn.Conv2d names: weight [K, C/groups, R, S], bias [K]).
#pragma once
#include "core/random.h"
#include "layers/module.h"

namespace actlab {

// How a convolution's weights start.
enum class ConvInit {
  he_fan_out,       // N(0, 2/fan_out), bias 0: how torchvision's ResNet and MobileNetV2 init their convolutions
  pytorch_default,  // U(±1/√fan_in) for weight and bias: a freshly built nn.Conv2d, as inside an activation
};

struct Conv2dOptions {
  int64_t in, out;
  int kernel = 3, stride = 1, pad = 0, groups = 1;
  bool bias = false;
  ConvInit init = ConvInit::he_fan_out;
};

class Conv2d : public Module {
 public:
  // Weights as options.init says; fan_out = out·R·S and fan_in = in/groups·R·S, as PyTorch counts them.
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
