// Meta-ACON's generator and composed reference (see meta_acon.h).
#include "activations/meta_acon.h"

#include <algorithm>

#include "autograd/ops.h"
#include "core/error.h"

namespace actlab {

MetaAcon::MetaAcon(Spec& spec, int64_t channels, Random& rng) : Acon(spec, AconKind::meta_acon, channels, rng) {
  const int r = spec.get_int("r", 16);
  const std::string space = spec.get_string("space", "channel");
  bn_ = spec.get_bool("bn", true);
  if (r < 1 || r > 1024) spec.reject("r", "must be from 1 to 1024 (the paper uses 16)");
  if (space == "channel") space_ = Space::channel;
  else if (space == "layer") space_ = Space::layer;
  else if (space == "pixel") space_ = Space::pixel;
  else spec.reject("space", "expected channel, layer or pixel");
  spec.finish();
  beta_from_input_ = space_ == Space::pixel;
  if (space_ != Space::channel) return;   // no generator parameters
  const int64_t hidden = std::max<int64_t>(r, channels / r);
  const auto pointwise = [](int64_t in, int64_t out) {
    return Conv2dOptions{in, out, 1, 1, 0, 1, true, ConvInit::pytorch_default};
  };
  fc1_ = add_module("fc1", std::make_shared<Conv2d>(pointwise(channels, hidden), rng));
  if (bn_) bn1_ = add_module("bn1", std::make_shared<BatchNorm2d>(hidden));
  fc2_ = add_module("fc2", std::make_shared<Conv2d>(pointwise(hidden, channels), rng));
  if (bn_) bn2_ = add_module("bn2", std::make_shared<BatchNorm2d>(channels));
}

Var MetaAcon::beta(const Var& x) {
  using namespace ops;
  switch (space_) {
    case Space::channel: {
      check(!(bn_ && training() && x.size(0) == 1),
            "meta-acon: a training batch of one sample cannot use the generator's batch norm; use "
            "meta-acon(bn=false)");
      Var z = (*fc1_)(mean_hw(x));
      if (bn_) z = (*bn1_)(z);
      z = (*fc2_)(z);
      if (bn_) z = (*bn2_)(z);
      return sigmoid(z);
    }
    case Space::layer: {
      int64_t per_sample = 1;
      for (int d = 1; d < x.value().ndim(); ++d) per_sample *= x.size(d);
      return sigmoid(mean_hw(reshape(x, {x.size(0), 1, 1, per_sample})));
    }
    case Space::pixel: return sigmoid(x);
  }
  fail("meta-acon: unknown space");
}

// p1, p2 and the generated β; in the pixel space the kernels compute β = σ(x).
std::vector<Var> MetaAcon::operands(const Var& x) {
  const auto& p = own_parameters();
  if (space_ == Space::pixel) return {p[0].second.var, p[1].second.var};
  return {p[0].second.var, p[1].second.var, beta(x)};
}

// ACON-C from tape primitives with the generated β.
Var MetaAcon::composed(const Var& x) {
  using namespace ops;
  const auto& p = own_parameters();
  const Var b = beta(x);
  const Var d = mul(sub(p[0].second.var, p[1].second.var), x);
  return add(mul(d, sigmoid(mul(b, d))), mul(p[1].second.var, x));
}

}  // namespace actlab
