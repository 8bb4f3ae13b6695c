// The model registry: model spec string -> Model (SPEC 2, 6).
#include <functional>
#include <map>

#include "core/error.h"
#include "models/mobilenetv2.h"
#include "models/model.h"
#include "models/resnet.h"
#include "models/resnet_cifar.h"

namespace actlab {
namespace {

struct Entry {
  std::string activation;  // the model's own activation
  ModelDefaults defaults;
  std::function<std::shared_ptr<Model>(Spec&, const ModelConfig&, ActivationPlan&, Random&)> build;
};

constexpr ModelDefaults kCifarSized{32, 10}, kImageNetSized{224, 1000};

Entry resnet_cifar(int n) {
  return {"relu", kCifarSized, [n](Spec& spec, const ModelConfig& c, ActivationPlan& plan, Random& rng) {
            spec.finish();
            return make_resnet_cifar(n, c.in_channels, c.classes, plan, rng);
          }};
}

Entry resnet(int depth, bool cifar) {
  return {"relu", cifar ? kCifarSized : kImageNetSized,
          [=](Spec& spec, const ModelConfig& c, ActivationPlan& plan, Random& rng) {
            spec.finish();
            return make_resnet(depth, cifar, c.in_channels, c.classes, plan, rng);
          }};
}

Entry mobilenetv2(bool cifar) {
  return {"relu6", cifar ? kCifarSized : kImageNetSized,
          [=](Spec& spec, const ModelConfig& c, ActivationPlan& plan, Random& rng) {
            MobileNetV2Options o;
            o.cifar = cifar;
            o.width = spec.get_float("width", 1.0f);
            o.dropout = spec.get_float("dropout", 0.2f);
            spec.finish();
            if (!(o.width > 0.0f && o.width <= 4.0f)) spec.reject("width", "must be in (0, 4]");
            if (!(o.dropout >= 0.0f && o.dropout < 1.0f)) spec.reject("dropout", "must be in [0, 1)");
            return make_mobilenetv2(o, c.in_channels, c.classes, plan, rng);
          }};
}

const std::map<std::string, Entry>& registry() {
  static const std::map<std::string, Entry> table{
      {"resnet20", resnet_cifar(3)},  {"resnet32", resnet_cifar(5)},   {"resnet44", resnet_cifar(7)},
      {"resnet56", resnet_cifar(9)},  {"resnet110", resnet_cifar(18)},
      {"resnet18", resnet(18, false)}, {"resnet18-cifar", resnet(18, true)},
      {"resnet34", resnet(34, false)}, {"resnet34-cifar", resnet(34, true)},
      {"mobilenetv2", mobilenetv2(false)}, {"mobilenetv2-cifar", mobilenetv2(true)},
  };
  return table;
}

const Entry& lookup(const Spec& spec) {
  auto it = registry().find(spec.name());
  if (it == registry().end()) {
    std::string known;
    for (const auto& [name, e] : registry()) known += (known.empty() ? "" : ", ") + name;
    fail("--model: unknown model '" + spec.name() + "' (known: " + known + ")");
  }
  return it->second;
}

}  // namespace

std::string default_activation(const std::string& model_spec) {
  return lookup(Spec::parse(model_spec, "--model")).activation;
}

ModelDefaults model_defaults(const std::string& model_spec) {
  return lookup(Spec::parse(model_spec, "--model")).defaults;
}

std::shared_ptr<Model> make_model(const ModelConfig& config) {
  Spec spec = Spec::parse(config.spec, "--model");
  const Entry& entry = lookup(spec);
  check(config.in_channels >= 1 && config.classes >= 1, "--model: input channels and classes must be positive");
  ActivationPlan plan(config.act.empty() ? entry.activation : config.act, config.act_at);
  Random rng(config.seed);
  std::shared_ptr<Model> model = entry.build(spec, config, plan, rng);
  plan.finish();
  model->positions_ = plan.positions();
  return model;
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& [name, e] : registry()) names.push_back(name);
  return names;
}

}  // namespace actlab
