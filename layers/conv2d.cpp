// 2-D convolution layer (see conv2d.h).
#include "layers/conv2d.h"

#include <cmath>

#include "autograd/ops.h"

namespace actlab {

Conv2d::Conv2d(const Conv2dOptions& o, Random& rng) : options_(o) {
  Tensor w = Tensor::empty({o.out, o.in / o.groups, o.kernel, o.kernel});
  Tensor b = Tensor::zeros({o.out});
  const int64_t taps = static_cast<int64_t>(o.kernel) * o.kernel;
  if (o.init == ConvInit::he_fan_out) {
    // fan_out as PyTorch computes it: weight.size(0)·R·S, not divided by the groups (so a depthwise 3×3
    // with C channels gets N(0, 2/(9C)), as in torchvision).
    const float stddev = std::sqrt(2.0f / static_cast<float>(o.out * taps));
    for (int64_t i = 0; i < w.numel(); ++i) w.data()[i] = rng.normal(0.0f, stddev);
  } else {
    // nn.Conv2d's reset_parameters: kaiming_uniform(a=√5) is U(±1/√fan_in), and the bias shares the bound.
    const float bound = 1.0f / std::sqrt(static_cast<float>(o.in / o.groups * taps));
    for (int64_t i = 0; i < w.numel(); ++i) w.data()[i] = rng.uniform(-bound, bound);
    if (o.bias)
      for (int64_t i = 0; i < o.out; ++i) b.data()[i] = rng.uniform(-bound, bound);
  }
  weight_ = add_parameter("weight", w, Role::weight);
  if (o.bias) bias_ = add_parameter("bias", b, Role::bias);
}

Var Conv2d::forward(const Var& x) {
  return ops::conv2d(x, weight_, bias_, options_.stride, options_.pad, options_.groups);
}

std::string Conv2d::describe() const {
  std::string s = "Conv2d(" + std::to_string(options_.in) + ", " + std::to_string(options_.out) + ", " +
                  std::to_string(options_.kernel) + "x" + std::to_string(options_.kernel);
  if (options_.stride != 1) s += ", stride " + std::to_string(options_.stride);
  if (options_.groups != 1) s += ", groups " + std::to_string(options_.groups);
  if (options_.bias) s += ", bias";
  return s + ")";
}

int64_t Conv2d::macs(const Shape&, const Shape& out) const {
  return numel(out) * (options_.in / options_.groups) * options_.kernel * options_.kernel;
}

}  // namespace actlab
