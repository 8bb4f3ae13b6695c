// Fully connected layer (see linear.h).
#include "layers/linear.h"

#include <cmath>

#include "autograd/ops.h"

namespace actlab {

Linear::Linear(int64_t in, int64_t out, Random& rng, bool bias, float normal_std) : in_(in), out_(out) {
  const float bound = 1.0f / std::sqrt(static_cast<float>(in));
  Tensor w = Tensor::empty({out, in});
  for (int64_t i = 0; i < w.numel(); ++i)
    w.data()[i] = normal_std > 0.0f ? rng.normal(0.0f, normal_std) : rng.uniform(-bound, bound);
  weight_ = add_parameter("weight", w, Role::weight);
  if (bias) {
    Tensor b = Tensor::empty({out});
    for (int64_t i = 0; i < out; ++i) b.data()[i] = normal_std > 0.0f ? 0.0f : rng.uniform(-bound, bound);
    bias_ = add_parameter("bias", b, Role::bias);
  }
}

Var Linear::forward(const Var& x) { return ops::linear(x, weight_, bias_); }

std::string Linear::describe() const {
  return "Linear(" + std::to_string(in_) + ", " + std::to_string(out_) + ")";
}

int64_t Linear::macs(const Shape& in, const Shape&) const { return in[0] * in_ * out_; }

}  // namespace actlab
