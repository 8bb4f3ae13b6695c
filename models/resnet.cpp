// torchvision-layout ResNets (see resnet.h). Names are torchvision's, with its
// `relu` modules replaced by activation positions: conv1, bn1, act1,
// layerS.i.{conv1,bn1,act1,conv2,bn2,downsample.0,downsample.1,act2}, fc.
#include "models/resnet.h"

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
  BasicBlock(const std::string& name, int64_t in, int64_t planes, int stride, ActivationPlan& plan, Random& rng) {
    conv1_ = add_module("conv1", std::make_shared<Conv2d>(Conv2dOptions{in, planes, 3, stride, 1}, rng));
    bn1_ = add_module("bn1", std::make_shared<BatchNorm2d>(planes));
    act1_ = add_module("act1", plan.make(name + ".act1", planes, true, rng));
    conv2_ = add_module("conv2", std::make_shared<Conv2d>(Conv2dOptions{planes, planes, 3, 1, 1}, rng));
    bn2_ = add_module("bn2", std::make_shared<BatchNorm2d>(planes));
    if (stride != 1 || in != planes) {
      auto downsample = std::make_shared<Sequential>();
      downsample->add(std::make_shared<Conv2d>(Conv2dOptions{in, planes, 1, stride, 0}, rng));
      downsample->add(std::make_shared<BatchNorm2d>(planes));
      downsample_ = add_module("downsample", downsample);
    }
    act2_ = add_module("act2", plan.make(name + ".act2", planes, false, rng));
  }

  Var forward(const Var& x) override {
    Var out = (*act1_)((*bn1_)((*conv1_)(x)));
    out = (*bn2_)((*conv2_)(out));
    return (*act2_)(ops::add(out, downsample_ ? (*downsample_)(x) : x));
  }
  std::string kind() const override { return "BasicBlock"; }

 private:
  std::shared_ptr<Module> conv1_, bn1_, act1_, conv2_, bn2_, downsample_, act2_;
};

class ResNet : public Model {
 public:
  ResNet(int depth, bool cifar, int64_t in_channels, int64_t classes, ActivationPlan& plan, Random& rng) {
    name_ = "resnet" + std::to_string(depth) + (cifar ? "-cifar" : "");
    const Conv2dOptions stem = cifar ? Conv2dOptions{in_channels, 64, 3, 1, 1} : Conv2dOptions{in_channels, 64, 7, 2, 3};
    conv1_ = add_module("conv1", std::make_shared<Conv2d>(stem, rng));
    bn1_ = add_module("bn1", std::make_shared<BatchNorm2d>(64));
    act1_ = add_module("act1", plan.make("act1", 64, false, rng));
    if (!cifar) maxpool_ = add_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
    const int blocks[4] = {2, 2, 2, 2}, blocks34[4] = {3, 4, 6, 3};
    int64_t in = 64;
    for (int stage = 0; stage < 4; ++stage) {
      const int64_t planes = int64_t{64} << stage;
      const std::string layer_name = "layer" + std::to_string(stage + 1);
      auto layer = std::make_shared<Sequential>();
      for (int i = 0; i < (depth == 34 ? blocks34 : blocks)[stage]; ++i) {
        layer->add(std::make_shared<BasicBlock>(layer_name + "." + std::to_string(i), in, planes,
                                                stage > 0 && i == 0 ? 2 : 1, plan, rng));
        in = planes;
      }
      layers_.push_back(add_module(layer_name, layer));
    }
    pool_ = add_module("avgpool", std::make_shared<GlobalAvgPool>());
    fc_ = add_module("fc", std::make_shared<Linear>(512, classes, rng));
  }

  Var forward(const Var& x) override {
    Var y = (*act1_)((*bn1_)((*conv1_)(x)));
    if (maxpool_) y = (*maxpool_)(y);
    for (auto& layer : layers_) y = (*layer)(y);
    return (*fc_)((*pool_)(y));
  }

 private:
  std::shared_ptr<Module> conv1_, bn1_, act1_, maxpool_, pool_, fc_;
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace

std::shared_ptr<Model> make_resnet(int depth, bool cifar, int64_t in_channels, int64_t classes,
                                   ActivationPlan& plan, Random& rng) {
  return std::make_shared<ResNet>(depth, cifar, in_channels, classes, plan, rng);
}

}  // namespace actlab
