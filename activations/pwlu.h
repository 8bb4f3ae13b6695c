// Piecewise Linear Unit (SPEC 1.7; Zhou et al. 2021; no official code): n
// uniform segments between learnable bounds B_L, B_R with learnable points
// Y_0..Y_n and outer slopes K_L, K_R, per channel or per layer; initialised
// as ReLU. Its learning method: phase I (the first `stat_epochs` epochs)
// freezes the parameters and keeps running mean and std of the input; at the
// start of phase II the bounds are realigned to μ ± max(sigmas·σ, 5e-4) and
// the points reset to ReLU, then everything trains. The trainer announces
// each epoch (start_epoch), so the phase follows the run's epoch, resume
// included.
#pragma once
#include "activations/activation.h"

namespace actlab {

class Pwlu : public Activation {
 public:
  Pwlu(Spec& spec, int64_t channels);
  Saves saves() const override { return Saves::input; }
  std::vector<Var> operands(const Var& x) override;
  void forward_kernel(const Tensor& x, const std::vector<Tensor>& operands, Tensor& y) const override;
  void backward_kernel(const Tensor& x, const Tensor& y, const Tensor& dy, const std::vector<Tensor>& operands,
                       Tensor& dx, std::vector<Tensor>& doperands) const override;
  Var composed(const Var& x) override;
  void start_epoch(int64_t epoch) override;
  std::string schedule_note(int64_t epochs) const override;
  int64_t schedule_state() const override { return phase_; }
  void restore_schedule_state(int64_t phase) override;

  int phase() const { return phase_; }
  void realign();   // phase II's start: bounds from the running statistics, points as ReLU

 private:
  void reset_as_relu(const std::vector<float>& left, const std::vector<float>& right);
  void update_statistics(const Tensor& x);

  int n_, stat_epochs_, phase_;
  bool layer_;
  float momentum_, sigmas_;
  Tensor* running_mean_;
  Tensor* running_std_;
};

}  // namespace actlab
