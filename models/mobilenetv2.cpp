// MobileNetV2 (see mobilenetv2.h). Names are torchvision's: features.0.{0,1,2}
// (conv, BN, position), features.N.conv.* for the inverted residual blocks,
// features.18.{0,1,2}, classifier.{0 Dropout, 1 Linear}.
#include "models/mobilenetv2.h"

#include <cmath>

#include "autograd/ops.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "layers/sequential.h"

namespace actlab {
namespace {

// conv + BN + activation position (torchvision's Conv2dNormActivation).
void add_conv_bn_act(Sequential& seq, const std::string& name, int64_t in, int64_t out, int kernel, int stride,
                     int64_t groups, bool after_3x3, ActivationPlan& plan, Random& rng) {
  auto block = std::make_shared<Sequential>();
  block->add(std::make_shared<Conv2d>(
      Conv2dOptions{in, out, kernel, stride, (kernel - 1) / 2, static_cast<int>(groups)}, rng));
  block->add(std::make_shared<BatchNorm2d>(out));
  block->add(plan.make(name + ".2", out, after_3x3, rng));
  seq.add(block);
}

class InvertedResidual : public Module {
 public:
  InvertedResidual(const std::string& name, int64_t in, int64_t out, int stride, int expand, ActivationPlan& plan,
                   Random& rng)
      : residual_(stride == 1 && in == out) {
    const int64_t hidden = static_cast<int64_t>(std::lround(static_cast<double>(in) * expand));
    auto conv = std::make_shared<Sequential>();
    const std::string prefix = name + ".conv.";
    if (expand != 1) add_conv_bn_act(*conv, prefix + "0", in, hidden, 1, 1, 1, false, plan, rng);
    add_conv_bn_act(*conv, prefix + std::to_string(expand != 1 ? 1 : 0), hidden, hidden, 3, stride, hidden, true,
                    plan, rng);
    conv->add(std::make_shared<Conv2d>(Conv2dOptions{hidden, out, 1, 1, 0}, rng));
    conv->add(std::make_shared<BatchNorm2d>(out));
    conv_ = add_module("conv", conv);
  }

  Var forward(const Var& x) override {
    Var y = (*conv_)(x);
    return residual_ ? ops::add(x, y) : y;
  }
  std::string kind() const override { return "InvertedResidual"; }

 private:
  bool residual_;
  std::shared_ptr<Module> conv_;
};

class MobileNetV2 : public Model {
 public:
  MobileNetV2(const MobileNetV2Options& o, int64_t in_channels, int64_t classes, ActivationPlan& plan,
              Random& rng) {
    name_ = o.cifar ? "mobilenetv2-cifar" : "mobilenetv2";
    head_ = "classifier.1";
    struct Stage {
      int t, c, n, s;
    };
    const Stage stages[] = {{1, 16, 1, 1}, {6, 24, 2, o.cifar ? 1 : 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                            {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    int64_t in = make_divisible(32 * o.width);
    const int64_t last = make_divisible(1280 * std::max(1.0f, o.width));
    auto features = std::make_shared<Sequential>();
    add_conv_bn_act(*features, "features.0", in_channels, in, 3, o.cifar ? 1 : 2, 1, false, plan, rng);
    for (const Stage& stage : stages) {
      const int64_t out = make_divisible(stage.c * o.width);
      for (int i = 0; i < stage.n; ++i) {
        const std::string name = "features." + std::to_string(features->size());
        features->add(std::make_shared<InvertedResidual>(name, in, out, i == 0 ? stage.s : 1, stage.t, plan, rng));
        in = out;
      }
    }
    add_conv_bn_act(*features, "features." + std::to_string(features->size()), in, last, 1, 1, 1, false,
                    plan, rng);
    features_ = add_module("features", features);
    pool_ = add_module("avgpool", std::make_shared<GlobalAvgPool>());
    auto classifier = std::make_shared<Sequential>();
    classifier->add(std::make_shared<Dropout>(o.dropout));
    classifier->add(std::make_shared<Linear>(last, classes, rng, true, 0.01f));
    classifier_ = add_module("classifier", classifier);
  }

  Var forward(const Var& x) override { return (*classifier_)((*pool_)((*features_)(x))); }

 private:
  std::shared_ptr<Module> features_, pool_, classifier_;
};

}  // namespace

int64_t make_divisible(double v, int64_t divisor) {
  int64_t rounded = std::max(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (static_cast<double>(rounded) < 0.9 * v) rounded += divisor;
  return rounded;
}

std::shared_ptr<Model> make_mobilenetv2(const MobileNetV2Options& options, int64_t in_channels, int64_t classes,
                                        ActivationPlan& plan, Random& rng) {
  return std::make_shared<MobileNetV2>(options, in_channels, classes, plan, rng);
}

}  // namespace actlab
