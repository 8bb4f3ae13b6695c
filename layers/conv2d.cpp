// 2-D convolution layer (see conv2d.h).
#include "layers/conv2d.h"

#include <cmath>

#include "autograd/ops.h"

namespace actlab {

Conv2d::Conv2d(const Conv2dOptions& o, Random& rng) : options_(o) {
  Tensor w = Tensor::empty({o.out, o.in / o.groups, o.kernel, o.kernel});
  // fan_out as PyTorch computes it: weight.size(0)·R·S, not divided by the
  // groups (so a depthwise 3×3 with C channels gets N(0, 2/(9C)), as in torchvision).
  const float stddev = std::sqrt(2.0f / static_cast<float>(o.out * o.kernel * o.kernel));
  for (int64_t i = 0; i < w.numel(); ++i) w.data()[i] = rng.normal(0.0f, stddev);
  weight_ = add_parameter("weight", w, Role::weight);
  if (o.bias) bias_ = add_parameter("bias", Tensor::zeros({o.out}), Role::bias);
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
