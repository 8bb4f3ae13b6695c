// NaN goes through every kernel as it does through PyTorch's, so a network
// that diverged reports a non-finite loss and the trainer stops it. ReLU once
// mapped NaN to 0 (x > 0 ? x : 0): a diverged ReLU network had a finite loss,
// and a run exited 0 with 9.77% accuracy and NaN weights saved.
#include <cmath>
#include <limits>

#include "activations/activation.h"
#include "autograd/ops.h"
#include "core/device.h"
#include "helpers.h"
#include "models/model.h"

using namespace actlab;
using namespace actlab::testing;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<std::string> nan_specs() {
  std::vector<std::string> all = activation_names();
  for (const char* extra : {"leaky-relu(slope=0.2)", "meta-acon(space=layer)", "meta-acon(space=pixel)",
                            "meta-acon(bn=false)", "pwlu(mode=layer)", "pwlu(stat_epochs=0)"})
    all.push_back(extra);
  return all;
}

// x [3, 4, 5, 6] with NaN at these flat positions, finite elsewhere.
const std::vector<int64_t> kNaNAt{0, 1 * 30 + 2 * 6 + 3, 2 * 120 + 3 * 30 + 29};

Tensor with_nans(Random& rng) {
  Tensor x = random_tensor({3, 4, 5, 6}, rng, 2.0f);
  for (int64_t i : kNaNAt) x.data()[i] = kNaN;
  return x;
}

void check_nan_at(const std::string& what, const Tensor& y) {
  const std::vector<float> v = y.to_vector();
  for (int64_t i : kNaNAt) CHECK_MESSAGE(std::isnan(v[i]), what << ": NaN input at " << i << " gave " << v[i]);
}

// Every activation, fused (on `device`) and composed, in training (PWLU in
// both phases) and in evaluation: NaN in, NaN out at the same place.
void check_activations(Device device) {
  for (const std::string& spec : nan_specs()) {
    for (int64_t epoch : {int64_t{0}, int64_t{1} << 20}) {   // PWLU's phase I (statistics), then phase II
      for (bool training : {true, false}) {
        Random rng(7);
        auto act = make_activation(spec, 4, rng);
        act->start_epoch(epoch);
        act->train(training);
        act->to(device);
        const Tensor x = with_nans(rng);
        const std::string what = spec + (training ? " training" : " evaluation") + " epoch " + std::to_string(epoch);
        {
          NoGradScope no_grad;
          check_nan_at(what + " fused on " + to_string(device), (*act)(Var(x.to(device))).value());
          if (device == Device::cpu) check_nan_at(what + " composed", act->composed(Var(x)).value());
        }
      }
    }
  }
}

// The tape's ops that pick or clamp: relu, maximum, minimum, max pooling; and
// a ResNet-20 with one NaN weight gives a NaN loss (a ReLU that zeroed NaN
// hid it behind the first batch norm).
void check_ops_and_model(Device device) {
  NoGradScope no_grad;
  Random rng(8);
  const Tensor x = with_nans(rng).to(device);
  const Var v(x), one(Tensor::full({}, 1.0f, device));
  check_nan_at("relu", ops::relu(v).value());
  check_nan_at("maximum(x, 1)", ops::maximum(v, one).value());
  check_nan_at("maximum(1, x)", ops::maximum(one, v).value());
  check_nan_at("minimum(x, 1)", ops::minimum(v, one).value());
  check_nan_at("minimum(1, x)", ops::minimum(one, v).value());

  // A window holding NaN gives NaN, wherever the NaN sits in it.
  Tensor plane = Tensor::zeros({1, 1, 4, 4});
  for (int64_t i = 0; i < 16; ++i) plane.data()[i] = static_cast<float>(i);
  for (int64_t at : {0, 5, 15}) {
    Tensor p = plane.clone();
    p.data()[at] = kNaN;
    const std::vector<float> pooled = ops::max_pool2d(Var(p.to(device)), 2, 2, 0).value().to_vector();
    const int64_t window = (at / 4 / 2) * 2 + (at % 4) / 2;
    CHECK_MESSAGE(std::isnan(pooled[window]), "max_pool2d: NaN at " << at << " gave " << pooled[window]);
    const std::vector<float> mean = ops::avg_pool2d(Var(p.to(device)), 2, 2, 0).value().to_vector();
    CHECK_MESSAGE(std::isnan(mean[window]), "avg_pool2d: NaN at " << at << " gave " << mean[window]);
  }

  ModelConfig config;
  config.in_channels = 1;
  config.classes = 10;
  auto model = make_model(config);
  model->named_parameters()[0].second->var.value().data()[0] = kNaN;   // conv1.weight
  model->to(device);
  for (bool training : {true, false}) {
    model->train(training);
    const Var logits = (*model)(Var(random_tensor({4, 1, 28, 28}, rng).to(device)));
    const float loss = ops::cross_entropy(logits, {0, 1, 2, 3}).value().to_vector()[0];
    const std::string mode = training ? "training" : "evaluation";
    CHECK_MESSAGE(std::isnan(loss), "resnet20 with a NaN weight, " << mode << ": loss " << loss);
  }
}

}  // namespace

TEST_CASE("every activation keeps NaN where PyTorch does: fused and composed, both modes, PWLU's two phases") {
  check_activations(Device::cpu);
}

TEST_CASE("relu, maximum, minimum and pooling keep NaN, and a NaN weight gives ResNet-20 a NaN loss") {
  check_ops_and_model(Device::cpu);
}

TEST_CASE("relu's backward is PyTorch's threshold_backward: dx = dy where y is NaN, 0 where y <= 0") {
  Random rng(9);
  Var x(with_nans(rng), true);
  Var y = ops::relu(x);
  const Tensor dy = random_tensor(x.shape(), rng);
  backward(ops::sum(ops::mul(y, Var(dy))));
  for (int64_t i = 0; i < x.value().numel(); ++i) {
    const float xi = x.value().data()[i];
    const float expected = std::isnan(xi) ? dy.data()[i] : (xi > 0.0f ? dy.data()[i] : 0.0f);
    CHECK_MESSAGE(x.grad().data()[i] == expected, "relu dx at " << i << " (x = " << xi << ")");
  }
  auto relu = make_activation("relu", 4, rng);
  Var x2(x.value().clone(), true);
  backward(ops::sum(ops::mul((*relu)(x2), Var(dy))));
  CHECK_CLOSE("fused relu dx", x2.grad(), x.grad(), 0.0, 1e-30);
}

TEST_CASE("cuda: every activation, relu, maximum, minimum and pooling keep NaN as on the CPU") {
  if (!cuda_available()) {
    std::printf("actlab-skip: no CUDA GPU on this machine\n");
    return;
  }
  check_activations(Device::cuda);
  check_ops_and_model(Device::cuda);
}
