// SGD exactly as torch.optim.SGD (dampening 0), with weight decay by role
// (SPEC 5), and the per-iteration learning-rate schedules.
#pragma once
#include <string>
#include <vector>

#include "layers/module.h"
#include "train/safetensors.h"

namespace actlab {

struct SgdOptions {
  float momentum = 0.9f;
  float weight_decay = 1e-4f;
  bool nesterov = false;
  bool decay_all = false;   // --wd-on all: decay every parameter, as plain PyTorch SGD
};

class Sgd {
 public:
  Sgd(std::vector<std::pair<std::string, Parameter*>> parameters, const SgdOptions& options);
  void step(float lr);       // parameters without a gradient are skipped (as PyTorch's None grads)
  void zero_grad();
  bool decays(const Parameter& p) const { return options_.decay_all || p.role == Role::weight; }
  void save_state(TensorFile& file) const;       // momentum buffers as "momentum.<name>"
  void load_state(const TensorFile& file);

 private:
  struct Slot {
    std::string name;
    Parameter* parameter;
    Tensor velocity;
    bool started = false;
  };
  std::vector<Slot> slots_;
  SgdOptions options_;
};

struct Schedule {
  std::string kind = "cosine";          // cosine | step | none
  std::vector<int64_t> step_epochs;     // for step
  float lr = 0.1f;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  int64_t steps_per_epoch = 1;

  static Schedule parse(const std::string& text);   // "cosine" | "none" | "step:E1,E2"
  float at(int64_t step) const;                     // lr for the step-th update (0-based)
};

}  // namespace actlab
