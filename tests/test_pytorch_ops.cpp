// Single ops against PyTorch (fixtures from tools/make_fixtures.py).
#include <cstring>

#include "helpers.h"

using namespace actlab;
using namespace actlab::testing;

namespace {

const TensorFile& ops_fixture() {
  static const TensorFile f = read_safetensors(fixture("ops.safetensors"));
  return f;
}
Tensor F(const std::string& name) { return ops_fixture().tensor(name); }
std::vector<int32_t> labels_of(const std::string& name) {
  const StoredTensor* s = ops_fixture().find(name);
  REQUIRE(s);
  std::vector<int32_t> out(s->bytes.size() / 8);
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t v;
    std::memcpy(&v, s->bytes.data() + 8 * i, 8);
    out[i] = static_cast<int32_t>(v);
  }
  return out;
}

// Runs backward of Σ y·dy, which hands dy to the op.
void backprop(const Var& y, const Tensor& dy) { backward(ops::sum(ops::mul(y, Var(dy)))); }

}  // namespace

TEST_CASE("conv2d matches PyTorch: forward, input, weight and bias gradients") {
  Var x(F("conv.x"), true), w(F("conv.w"), true), b(F("conv.b"), true);
  Var y = ops::conv2d(x, w, b, 2, 1, 2);
  CHECK_CLOSE("conv y", y.value(), F("conv.y"), 1e-5, 1e-5);
  backprop(y, F("conv.dy"));
  CHECK_CLOSE("conv dx", x.grad(), F("conv.dx"), 1e-5, 1e-5);
  CHECK_CLOSE("conv dw", w.grad(), F("conv.dw"), 1e-5, 1e-5);
  CHECK_CLOSE("conv db", b.grad(), F("conv.db"), 1e-5, 1e-5);

  Var x1(F("conv1x1.x"), true), w1(F("conv1x1.w"), true);
  Var y1 = ops::conv2d(x1, w1, Var(), 1, 0, 1);
  CHECK_CLOSE("conv1x1 y", y1.value(), F("conv1x1.y"), 1e-5, 1e-5);
  backprop(y1, F("conv1x1.dy"));
  CHECK_CLOSE("conv1x1 dx", x1.grad(), F("conv1x1.dx"), 1e-5, 1e-5);
  CHECK_CLOSE("conv1x1 dw", w1.grad(), F("conv1x1.dw"), 1e-5, 1e-5);
}

TEST_CASE("depthwise conv2d matches PyTorch: stride 1 and 2, 3x3 and 5x5, with and without bias") {
  struct Case {
    std::string name;
    int stride, pad;
    bool bias;
  };
  for (const Case& c : {Case{"dwconv", 1, 1, true}, Case{"dwconv_s2", 2, 1, false}, Case{"dwconv5", 2, 2, true}}) {
    Var x(F(c.name + ".x"), true), w(F(c.name + ".w"), true), b = c.bias ? Var(F(c.name + ".b"), true) : Var();
    Var y = ops::conv2d(x, w, b, c.stride, c.pad, static_cast<int>(x.size(1)));
    CHECK_CLOSE(c.name << " y", y.value(), F(c.name + ".y"), 1e-5, 1e-5);
    backprop(y, F(c.name + ".dy"));
    CHECK_CLOSE(c.name << " dx", x.grad(), F(c.name + ".dx"), 1e-5, 1e-5);
    CHECK_CLOSE(c.name << " dw", w.grad(), F(c.name + ".dw"), 1e-5, 1e-5);
    if (c.bias) CHECK_CLOSE(c.name << " db", b.grad(), F(c.name + ".db"), 1e-5, 1e-5);
  }
}

TEST_CASE("batch_norm matches PyTorch in training (with running stats) and evaluation") {
  Var x(F("bn.x"), true), g(F("bn.weight"), true), b(F("bn.bias"), true);
  Tensor rm = F("bn.running_mean_in"), rv = F("bn.running_var_in");
  Var y = ops::batch_norm(x, g, b, rm, rv, true, 0.1f, 1e-5f);
  CHECK_CLOSE("bn y", y.value(), F("bn.y"), 1e-5, 1e-5);
  CHECK_CLOSE("bn running_mean", rm, F("bn.running_mean_out"), 1e-5, 1e-6);
  CHECK_CLOSE("bn running_var (unbiased)", rv, F("bn.running_var_out"), 1e-5, 1e-6);
  backprop(y, F("bn.dy"));
  CHECK_CLOSE("bn dx", x.grad(), F("bn.dx"), 1e-4, 1e-5);
  CHECK_CLOSE("bn dweight", g.grad(), F("bn.dweight"), 1e-5, 1e-5);
  CHECK_CLOSE("bn dbias", b.grad(), F("bn.dbias"), 1e-5, 1e-5);
  Tensor rm0 = F("bn.running_mean_in"), rv0 = F("bn.running_var_in");
  NoGradScope no_grad;
  Var ye = ops::batch_norm(Var(F("bn.x")), Var(F("bn.weight")), Var(F("bn.bias")), rm0, rv0, false, 0.1f, 1e-5f);
  CHECK_CLOSE("bn y_eval", ye.value(), F("bn.y_eval"), 1e-5, 1e-5);
}

TEST_CASE("linear matches PyTorch") {
  Var x(F("linear.x"), true), w(F("linear.w"), true), b(F("linear.b"), true);
  Var y = ops::linear(x, w, b);
  CHECK_CLOSE("linear y", y.value(), F("linear.y"), 1e-5, 1e-5);
  backprop(y, F("linear.dy"));
  CHECK_CLOSE("linear dx", x.grad(), F("linear.dx"), 1e-5, 1e-5);
  CHECK_CLOSE("linear dw", w.grad(), F("linear.dw"), 1e-5, 1e-5);
  CHECK_CLOSE("linear db", b.grad(), F("linear.db"), 1e-5, 1e-5);
}

TEST_CASE("cross_entropy matches PyTorch with and without label smoothing") {
  const auto labels = labels_of("ce.labels");
  for (auto [suffix, s] : {std::pair<std::string, float>{"", 0.1f}, {"_plain", 0.0f}}) {
    Var z(F("ce.logits"), true);
    Var loss = ops::cross_entropy(z, labels, s);
    CHECK_MESSAGE(loss.value().item() == doctest::Approx(F("ce.loss" + suffix).item()).epsilon(1e-6),
                  "cross entropy loss" << suffix);
    backward(loss);
    CHECK_CLOSE("cross entropy dlogits" << suffix, z.grad(), F("ce.dlogits" + suffix), 1e-5, 1e-6);
  }
}

TEST_CASE("max and average pooling match PyTorch") {
  Var x(F("pool.x"), true);
  Var m = ops::max_pool2d(x, 3, 2, 1);
  CHECK_CLOSE("maxpool y", m.value(), F("maxpool.y"), 1e-6, 1e-6);
  backprop(m, F("pool.dy_max"));
  CHECK_CLOSE("maxpool dx", x.grad(), F("maxpool.dx"), 1e-6, 1e-6);
  Var x2(F("pool.x"), true);
  Var a = ops::avg_pool2d(x2, 3, 2, 1);
  CHECK_CLOSE("avgpool y", a.value(), F("avgpool.y"), 1e-5, 1e-6);
  backprop(a, F("pool.dy_avg"));
  CHECK_CLOSE("avgpool dx", x2.grad(), F("avgpool.dx"), 1e-5, 1e-6);
}
