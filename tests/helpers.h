// Shared test helpers: fixtures, closeness checks, finite differences.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "core/random.h"
#include "train/safetensors.h"

namespace actlab::testing {

inline std::string fixture(const std::string& name) { return std::string(ACTLAB_FIXTURES) + "/" + name; }

inline Tensor random_tensor(Shape shape, Random& rng, float scale = 1.0f) {
  Tensor t = Tensor::empty(std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = rng.normal(0.0f, scale);
  return t;
}

// ‖a − b‖ / ‖b‖ over all elements, a and b on any devices; infinite where a has a non-finite value.
inline double relative_error(const Tensor& a, const Tensor& b) {
  REQUIRE_MESSAGE(a.shape() == b.shape(), to_string(a.shape()) << " vs " << to_string(b.shape()));
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) return INFINITY;
    diff += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
    norm += double(y[i]) * y[i];
  }
  return norm == 0.0 ? std::sqrt(diff) : std::sqrt(diff / norm);
}

// Largest |a − b| / (atol + rtol·|b|) over all elements; ≤ 1 means close.
inline double closeness(const Tensor& a, const Tensor& b, double rtol, double atol) {
  REQUIRE_MESSAGE(a.shape() == b.shape(), "shape " << to_string(a.shape()) << " vs " << to_string(b.shape()));
  double worst = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = std::fabs(static_cast<double>(a.data()[i]) - b.data()[i]);
    worst = std::max(worst, d / (atol + rtol * std::fabs(static_cast<double>(b.data()[i]))));
  }
  return worst;
}

#define CHECK_CLOSE(what, a, b, rtol, atol) \
  CHECK_MESSAGE(::actlab::testing::closeness(a, b, rtol, atol) <= 1.0, what << " differs beyond tolerance")

// Checks the tape's gradients of loss = Σ f(inputs)·R (R a fixed random
// projection) against finite differences for every input that requires grad.
// Kink-aware (SPEC 1.1): the analytic value may lie anywhere between the two
// one-sided differences, so a max that changes line, a clamp that starts or a
// PWLU breakpoint within eps of the point accepts either slope; where f is
// smooth the two agree to O(eps) and this is the central difference's test.
inline void gradcheck(const std::string& what, std::vector<Var> inputs, const std::function<Var(std::vector<Var>&)>& f,
                      double eps = 1e-3, double rtol = 2e-2, double atol = 2e-3) {
  Random rng(1234);
  Var first = f(inputs);
  tape().clear();
  const Tensor projection = random_tensor(first.shape(), rng);
  auto loss_of = [&](std::vector<Var>& in) { return ops::sum(ops::mul(f(in), Var(projection))); };
  for (Var& v : inputs)
    if (v.defined()) v.set_grad(Tensor());
  backward(loss_of(inputs));
  double at_point;
  {
    NoGradScope no_grad;
    at_point = loss_of(inputs).value().item();
  }
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!inputs[k].defined() || !inputs[k].requires_grad()) continue;
    REQUIRE_MESSAGE(inputs[k].grad().defined(), what << ": input " << k << " received no gradient");
    const Tensor analytic = inputs[k].grad().clone();
    Tensor numeric = Tensor::empty(analytic.shape());
    float* x = inputs[k].value().data();
    for (int64_t i = 0; i < analytic.numel(); ++i) {
      const float saved = x[i];
      double plus, minus;
      {
        NoGradScope no_grad;
        x[i] = saved + static_cast<float>(eps);
        plus = loss_of(inputs).value().item();
        x[i] = saved - static_cast<float>(eps);
        minus = loss_of(inputs).value().item();
      }
      x[i] = saved;
      const double left = (at_point - minus) / eps, right = (plus - at_point) / eps;
      const double a = analytic.data()[i];
      numeric.data()[i] = static_cast<float>(std::clamp(a, std::min(left, right), std::max(left, right)));
    }
    CHECK_MESSAGE(closeness(analytic, numeric, rtol, atol) <= 1.0,
                  what << ": gradient of input " << k << " differs from finite differences");
  }
}

}  // namespace actlab::testing
