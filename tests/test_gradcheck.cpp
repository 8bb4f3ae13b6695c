// Finite-difference checks of every op's backward on the tape.
#include <sstream>

#include "helpers.h"
#include "layers/batch_norm.h"

using namespace actlab;
using namespace actlab::testing;

TEST_CASE("conv2d gradients match finite differences (3x3 stride 2 pad 1, groups 2, bias)") {
  Random rng(1);
  Var x(random_tensor({2, 4, 6, 5}, rng), true);
  Var w(random_tensor({6, 2, 3, 3}, rng, 0.5f), true);
  Var b(random_tensor({6}, rng), true);
  gradcheck("conv2d", {x, w, b}, [](std::vector<Var>& v) { return ops::conv2d(v[0], v[1], v[2], 2, 1, 2); });
}

TEST_CASE("conv2d gradients match finite differences (1x1 pointwise and depthwise)") {
  Random rng(2);
  Var x(random_tensor({2, 3, 4, 4}, rng), true);
  Var w(random_tensor({5, 3, 1, 1}, rng), true);
  gradcheck("conv2d 1x1", {x, w, Var()}, [](std::vector<Var>& v) { return ops::conv2d(v[0], v[1], v[2], 1, 0, 1); });
  Var wd(random_tensor({3, 1, 3, 3}, rng), true);
  gradcheck("conv2d depthwise", {x, wd, Var()},
            [](std::vector<Var>& v) { return ops::conv2d(v[0], v[1], v[2], 1, 1, 3); });
}

TEST_CASE("conv2d gradients match finite differences (width-keeping 3x3 and 5x5, stride 1)") {
  Random rng(21);
  Var x(random_tensor({2, 3, 5, 6}, rng), true);
  Var w3(random_tensor({4, 3, 3, 3}, rng, 0.5f), true), b(random_tensor({4}, rng), true);
  gradcheck("conv2d 3x3 pad 1", {x, w3, b}, [](std::vector<Var>& v) { return ops::conv2d(v[0], v[1], v[2], 1, 1, 1); });
  Var w5(random_tensor({2, 3, 5, 5}, rng, 0.3f), true);
  gradcheck("conv2d 5x5 pad 2", {x, w5, Var()}, [](std::vector<Var>& v) { return ops::conv2d(v[0], v[1], v[2], 1, 2, 1); });
}

// The definition, summed term by term: an independent reference for every
// path of the CPU kernel (im2col, plane shifts, 1x1, groups).
TEST_CASE("conv2d forward equals the direct sum of its definition") {
  struct Case {
    int64_t N, C, H, W, K, R;
    int stride, pad, groups;
  };
  Random rng(22);
  for (const Case c : {Case{2, 3, 7, 7, 4, 3, 1, 1, 1}, Case{2, 4, 6, 9, 4, 5, 1, 2, 2}, Case{1, 3, 6, 6, 2, 3, 1, 0, 1},
                       Case{2, 4, 7, 8, 6, 3, 2, 1, 2}, Case{2, 5, 4, 4, 3, 1, 1, 0, 1}, Case{1, 4, 5, 5, 4, 3, 1, 1, 4},
                       Case{1, 2, 3, 3, 2, 3, 1, 3, 1}}) {
    const int64_t Cg = c.C / c.groups, Kg = c.K / c.groups;
    const Tensor x = random_tensor({c.N, c.C, c.H, c.W}, rng), w = random_tensor({c.K, Cg, c.R, c.R}, rng);
    NoGradScope no_grad;
    const Tensor y = ops::conv2d(Var(x), Var(w), Var(), c.stride, c.pad, c.groups).value();
    const int64_t P = y.size(2), Q = y.size(3);
    Tensor expect = Tensor::zeros(y.shape());
    for (int64_t n = 0; n < c.N; ++n)
      for (int64_t k = 0; k < c.K; ++k)
        for (int64_t p = 0; p < P; ++p)
          for (int64_t q = 0; q < Q; ++q) {
            double sum = 0.0;
            for (int64_t ci = 0; ci < Cg; ++ci)
              for (int64_t r = 0; r < c.R; ++r)
                for (int64_t t = 0; t < c.R; ++t) {
                  const int64_t h = p * c.stride - c.pad + r, v = q * c.stride - c.pad + t;
                  if (h < 0 || h >= c.H || v < 0 || v >= c.W) continue;
                  const int64_t channel = (k / Kg) * Cg + ci;
                  sum += double(x.data()[((n * c.C + channel) * c.H + h) * c.W + v]) *
                         w.data()[((k * Cg + ci) * c.R + r) * c.R + t];
                }
            expect.data()[((n * c.K + k) * P + p) * Q + q] = static_cast<float>(sum);
          }
    CHECK_CLOSE("conv2d " << c.R << "x" << c.R << " stride " << c.stride << " pad " << c.pad << " groups " << c.groups,
                y, expect, 1e-5, 1e-5);
  }
}

TEST_CASE("batch_norm gradients match finite differences in training and evaluation mode") {
  Random rng(3);
  Var x(random_tensor({4, 3, 3, 3}, rng), true);
  Var gamma(random_tensor({3}, rng), true);
  Var beta(random_tensor({3}, rng), true);
  Tensor rm = Tensor::zeros({3}), rv = Tensor::full({3}, 1.0f);
  gradcheck("batch_norm train", {x, gamma, beta}, [&](std::vector<Var>& v) {
    return ops::batch_norm(v[0], v[1], v[2], rm, rv, true, 0.1f, 1e-5f);
  }, 1e-3, 3e-2, 5e-3);
  Tensor rm2 = Tensor::from_vector({3}, {0.1f, -0.2f, 0.3f}), rv2 = Tensor::from_vector({3}, {0.5f, 1.5f, 2.0f});
  gradcheck("batch_norm eval", {x, gamma, beta}, [&](std::vector<Var>& v) {
    return ops::batch_norm(v[0], v[1], v[2], rm2, rv2, false, 0.1f, 1e-5f);
  });
}

TEST_CASE("linear, pooling, mean_hw and shortcut_a gradients match finite differences") {
  Random rng(4);
  Var x(random_tensor({3, 5}, rng), true), w(random_tensor({4, 5}, rng), true), b(random_tensor({4}, rng), true);
  gradcheck("linear", {x, w, b}, [](std::vector<Var>& v) { return ops::linear(v[0], v[1], v[2]); });
  Var img(random_tensor({2, 3, 7, 7}, rng), true);
  gradcheck("max_pool2d", {img}, [](std::vector<Var>& v) { return ops::max_pool2d(v[0], 3, 2, 1); });
  gradcheck("avg_pool2d", {img}, [](std::vector<Var>& v) { return ops::avg_pool2d(v[0], 3, 2, 1); });
  gradcheck("mean_hw", {img}, [](std::vector<Var>& v) { return ops::mean_hw(v[0]); });
  Var even(random_tensor({2, 4, 6, 6}, rng), true);
  gradcheck("shortcut_a", {even}, [](std::vector<Var>& v) { return ops::shortcut_a(v[0], 2); });
}

TEST_CASE("elementwise ops with broadcasting match finite differences") {
  Random rng(5);
  Var a(random_tensor({2, 3, 4, 4}, rng), true);
  Var c(random_tensor({1, 3, 1, 1}, rng), true);
  Var n(random_tensor({2, 3, 1, 1}, rng), true);
  Var positive(Tensor::full({2, 3, 4, 4}, 2.0f), true);
  gradcheck("add", {a, c}, [](std::vector<Var>& v) { return ops::add(v[0], v[1]); });
  gradcheck("sub", {a, n}, [](std::vector<Var>& v) { return ops::sub(v[0], v[1]); });
  gradcheck("mul", {a, c}, [](std::vector<Var>& v) { return ops::mul(v[0], v[1]); });
  gradcheck("div", {a, positive}, [](std::vector<Var>& v) { return ops::div(v[0], v[1]); });
  gradcheck("maximum", {a, c}, [](std::vector<Var>& v) { return ops::maximum(v[0], v[1]); });
  gradcheck("minimum", {a, n}, [](std::vector<Var>& v) { return ops::minimum(v[0], v[1]); });
  for (UnaryOp op : {UnaryOp::sigmoid, UnaryOp::tanh, UnaryOp::exp, UnaryOp::neg, UnaryOp::square, UnaryOp::sin,
                     UnaryOp::cos})
    gradcheck("unary " + std::to_string(static_cast<int>(op)), {a}, [op](std::vector<Var>& v) { return ops::unary(op, v[0]); });
  gradcheck("log", {positive}, [](std::vector<Var>& v) { return ops::log(v[0]); });
  gradcheck("affine", {a}, [](std::vector<Var>& v) { return ops::affine(v[0], -1.5f, 0.25f); });
}

TEST_CASE("cross_entropy gradient matches finite differences, with and without label smoothing") {
  Random rng(6);
  Var logits(random_tensor({4, 5}, rng), true);
  const std::vector<int32_t> labels{0, 3, 4, 1};
  for (float s : {0.0f, 0.1f})
    gradcheck("cross_entropy", {logits}, [&](std::vector<Var>& v) { return ops::cross_entropy(v[0], labels, s); });
}

TEST_CASE("gradients accumulate across backward calls and the tape can be printed") {
  Var w(Tensor::from_vector({2}, {1.0f, 2.0f}), true);
  backward(ops::sum(ops::mul(w, w)), true);
  std::ostringstream out;
  tape().print(out);
  CHECK(out.str().find("mul") != std::string::npos);
  CHECK(out.str().find("sum") != std::string::npos);
  tape().clear();
  backward(ops::sum(ops::mul(w, w)));
  CHECK(w.grad().data()[0] == doctest::Approx(4.0));   // 2·w twice
  CHECK(w.grad().data()[1] == doctest::Approx(8.0));
  {
    NoGradScope no_grad;
    Var y = ops::mul(w, w);
    CHECK_FALSE(y.requires_grad());
    CHECK(tape().nodes().empty());
  }
}
