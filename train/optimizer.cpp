// SGD and schedules (see optimizer.h).
#include "train/optimizer.h"

#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/kernels.h"

namespace actlab {

Sgd::Sgd(std::vector<std::pair<std::string, Parameter*>> parameters, const SgdOptions& options) : options_(options) {
  for (auto& [name, p] : parameters) slots_.push_back({name, p, Tensor(), false});
}

void Sgd::step(float lr) {
  for (Slot& s : slots_) {
    Var& v = s.parameter->var;
    if (!v.grad().defined()) continue;
    if (options_.momentum != 0.0f && !s.velocity.defined())
      s.velocity = Tensor::zeros(v.value().shape(), v.device());
    const float wd = decays(*s.parameter) ? options_.weight_decay : 0.0f;
    kernels(v.device()).sgd_step(v.value(), v.grad(), s.velocity, lr, options_.momentum, wd, options_.nesterov,
                                 !s.started);
    s.started = true;
  }
}

void Sgd::zero_grad() {
  for (Slot& s : slots_) s.parameter->var.set_grad(Tensor());
}

void Sgd::save_state(TensorFile& file) const {
  for (const Slot& s : slots_)
    if (s.started && s.velocity.defined()) file.add("momentum." + s.name, s.velocity);
}

void Sgd::load_state(const TensorFile& file) {
  for (Slot& s : slots_) {
    const StoredTensor* t = file.find("momentum." + s.name);
    if (!t) continue;
    Tensor v = file.tensor("momentum." + s.name);
    check(v.shape() == s.parameter->var.value().shape(),
          file.source + ": momentum for " + s.name + " has shape " + to_string(v.shape()));
    s.velocity = v.to(s.parameter->var.device());
    s.started = true;
  }
}

Schedule Schedule::parse(const std::string& text) {
  Schedule s;
  if (text == "cosine" || text == "none") {
    s.kind = text;
    return s;
  }
  if (text.rfind("step:", 0) == 0) {
    s.kind = "step";
    std::istringstream in(text.substr(5));
    std::string item;
    while (std::getline(in, item, ',')) {
      try {
        size_t used = 0;
        const long long e = std::stoll(item, &used);
        if (used != item.size() || e < 0) throw std::invalid_argument(item);
        s.step_epochs.push_back(e);
      } catch (const std::exception&) {
        fail("--schedule: '" + item + "' in '" + text + "' is not an epoch number");
      }
    }
    if (s.step_epochs.empty()) fail("--schedule: step needs epochs, e.g. step:82,123");
    return s;
  }
  fail("--schedule: unknown schedule '" + text + "' (expected cosine, step:E1,E2,... or none)");
}

float Schedule::at(int64_t step) const {
  if (step < warmup_steps) return lr * static_cast<float>(step + 1) / static_cast<float>(warmup_steps);
  if (kind == "none") return lr;
  if (kind == "step") {
    float rate = lr;
    const int64_t epoch = step / std::max<int64_t>(steps_per_epoch, 1);
    for (int64_t e : step_epochs)
      if (epoch >= e) rate *= 0.1f;
    return rate;
  }
  // cosine from lr to 0 over the iterations after warm-up
  const int64_t span = std::max<int64_t>(total_steps - warmup_steps, 1);
  const double t = static_cast<double>(step - warmup_steps) / static_cast<double>(span);
  return static_cast<float>(0.5 * lr * (1.0 + std::cos(M_PI * std::min(t, 1.0))));
}

}  // namespace actlab
