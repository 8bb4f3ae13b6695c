// A model: a Module built at run time from a spec string (`resnet20`,
// `resnet56`, ...) with an activation plan, plus what summary needs.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/placement.h"

namespace actlab {

struct ModelConfig {
  std::string spec = "resnet20";   // model spec string
  int64_t in_channels = 3;
  int64_t classes = 10;
  std::string act;                 // empty: the model's own activation
  std::vector<std::string> act_at;
  uint64_t seed = 0;
};

class Model : public Module {
 public:
  const std::string& name() const { return name_; }
  const std::vector<ActivationPosition>& positions() const { return positions_; }
  const std::string& head() const { return head_; }   // the classifier's module name ("fc")
  std::string kind() const override { return name_; }

 protected:
  std::string name_, head_ = "fc";
  std::vector<ActivationPosition> positions_;
  friend std::shared_ptr<Model> make_model(const ModelConfig&);
};

// What a model is usually fed: `summary` uses it unless --input/--classes say otherwise.
struct ModelDefaults {
  int64_t image_size, classes;
};

std::shared_ptr<Model> make_model(const ModelConfig& config);
std::string default_activation(const std::string& model_spec);
ModelDefaults model_defaults(const std::string& model_spec);
std::vector<std::string> model_names();

}  // namespace actlab
