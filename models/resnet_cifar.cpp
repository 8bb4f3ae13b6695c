// CIFAR ResNets (see resnet_cifar.h). Names follow the common PyTorch
// implementation: conv1, bn1, act1, layerS.i.{conv1,bn1,act1,conv2,bn2,act2}, fc.
#include "models/resnet_cifar.h"

#include "autograd/ops.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "layers/sequential.h"

namespace actlab {
namespace {

class BasicBlock : public Module {
 public:
  BasicBlock(const std::string& name, int64_t in, int64_t planes, int stride, ActivationPlan& plan, Random& rng)
      : shortcut_pad_(stride != 1 || in != planes ? planes / 4 : -1) {
    conv1_ = add_module("conv1", std::make_shared<Conv2d>(Conv2dOptions{in, planes, 3, stride, 1}, rng));
    bn1_ = add_module("bn1", std::make_shared<BatchNorm2d>(planes));
    act1_ = add_module("act1", plan.make(name + ".act1", planes, true, rng));
    conv2_ = add_module("conv2", std::make_shared<Conv2d>(Conv2dOptions{planes, planes, 3, 1, 1}, rng));
    bn2_ = add_module("bn2", std::make_shared<BatchNorm2d>(planes));
    act2_ = add_module("act2", plan.make(name + ".act2", planes, false, rng));
  }

  Var forward(const Var& x) override {
    Var out = (*act1_)((*bn1_)((*conv1_)(x)));
    out = (*bn2_)((*conv2_)(out));
    Var shortcut = shortcut_pad_ >= 0 ? ops::shortcut_a(x, shortcut_pad_) : x;
    return (*act2_)(ops::add(out, shortcut));
  }
  std::string kind() const override { return "BasicBlock"; }

 private:
  int64_t shortcut_pad_;  // -1: identity
  std::shared_ptr<Module> conv1_, bn1_, act1_, conv2_, bn2_, act2_;
};

class ResNetCifar : public Model {
 public:
  ResNetCifar(int n, int64_t in_channels, int64_t classes, ActivationPlan& plan, Random& rng) {
    name_ = "resnet" + std::to_string(6 * n + 2);
    conv1_ = add_module("conv1", std::make_shared<Conv2d>(Conv2dOptions{in_channels, 16, 3, 1, 1}, rng));
    bn1_ = add_module("bn1", std::make_shared<BatchNorm2d>(16));
    act1_ = add_module("act1", plan.make("act1", 16, false, rng));
    int64_t in = 16;
    const int64_t widths[] = {16, 32, 64};
    for (int stage = 0; stage < 3; ++stage) {
      auto layer = std::make_shared<Sequential>();
      const std::string layer_name = "layer" + std::to_string(stage + 1);
      for (int i = 0; i < n; ++i) {
        const int stride = stage > 0 && i == 0 ? 2 : 1;
        layer->add(std::make_shared<BasicBlock>(layer_name + "." + std::to_string(i), in, widths[stage], stride,
                                                plan, rng));
        in = widths[stage];
      }
      layers_.push_back(add_module(layer_name, layer));
    }
    pool_ = add_module("avgpool", std::make_shared<GlobalAvgPool>());
    fc_ = add_module("fc", std::make_shared<Linear>(64, classes, rng));
  }

  Var forward(const Var& x) override {
    Var y = (*act1_)((*bn1_)((*conv1_)(x)));
    for (auto& layer : layers_) y = (*layer)(y);
    return (*fc_)((*pool_)(y));
  }

 private:
  std::shared_ptr<Module> conv1_, bn1_, act1_, pool_, fc_;
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace

std::shared_ptr<Model> make_resnet_cifar(int n, int64_t in_channels, int64_t classes, ActivationPlan& plan,
                                         Random& rng) {
  return std::make_shared<ResNetCifar>(n, in_channels, classes, plan, rng);
}

}  // namespace actlab
