// Dropout (see dropout.h). The keep-mask is drawn on the host from the
// layer's stream and multiplied in with the tape's mul, whose backward is
// exactly dropout's: dx = dy · mask.
#include "layers/dropout.h"

#include <cstdio>

#include "autograd/ops.h"
#include "core/error.h"
#include "core/random.h"

namespace actlab {

Dropout::Dropout(float p) : p_(p) {
  check(p >= 0.0f && p < 1.0f, "dropout: p must be in [0, 1), got " + std::to_string(p));
}

Var Dropout::forward(const Var& x) {
  if (!training() || p_ == 0.0f) return x;
  Random rng(mix_seed(seed_, calls_++));
  Tensor mask = Tensor::empty(x.shape());
  const float keep = 1.0f / (1.0f - p_);
  for (int64_t i = 0; i < mask.numel(); ++i) mask.data()[i] = rng.uniform() < p_ ? 0.0f : keep;
  return ops::mul(x, Var(mask.to(x.value().device())));
}

std::string Dropout::describe() const {
  char text[32];
  std::snprintf(text, sizeof text, "Dropout(p=%g)", p_);
  return text;
}

}  // namespace actlab
