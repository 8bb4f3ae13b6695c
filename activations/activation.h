// The activation contract (SPEC 1.8). An activation is a Module placed at an
// activation position. It provides:
//   - fused kernels: forward(x, operands) -> y and backward(x, y, dy) -> dx
//     and operand gradients, each one pass over the tensor;
//   - saves(): which of x and y its backward needs (keep no more);
//   - composed(x): the same function built from tape primitives, the slow,
//     obviously correct reference the tests and `act explain` use;
//   - its parameters, registered with Role::act (not weight-decayed);
//   - macs(): multiply-adds for `summary`.
// Operands are the tensors the fused kernel reads besides x: by default the
// activation's own parameters, in registration order. An activation whose
// coefficients are computed from x (DyReLU, Meta-ACON) overrides operands()
// to build them with tape ops, so their gradients flow on.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/spec.h"
#include "layers/module.h"

namespace actlab {

enum class Saves { input, output, both };

class Activation : public Module {
 public:
  Var forward(const Var& x) final;   // one tape node around the fused kernels
  std::string kind() const override { return "Activation"; }
  std::string describe() const override { return spec_; }
  const std::string& spec() const { return spec_; }

  virtual Saves saves() const = 0;
  virtual void forward_kernel(const Tensor& x, const std::vector<Tensor>& operands, Tensor& y) const = 0;
  // dx is always wanted; doperands[i] is allocated (operand's shape) when that operand needs a gradient.
  virtual void backward_kernel(const Tensor& x, const Tensor& y, const Tensor& dy,
                               const std::vector<Tensor>& operands, Tensor& dx,
                               std::vector<Tensor>& doperands) const = 0;
  virtual Var composed(const Var& x) = 0;
  virtual std::vector<Var> operands(const Var& x);
  // Called by the trainer at the start of every epoch (0-based; a resumed run
  // continues its count). Activations with a schedule of their own (PWLU's
  // phases) act on it; the rest ignore it.
  virtual void start_epoch(int64_t /*epoch*/) {}
  // What a run of `epochs` epochs should know about that schedule (printed
  // once by the trainer), or nothing.
  virtual std::string schedule_note(int64_t /*epochs*/) const { return {}; }
  // Where that schedule stands (PWLU's phase), which a resumed run restores
  // before its first start_epoch; 0 for activations without a schedule. It
  // goes in the run's resume state, not in the model file.
  virtual int64_t schedule_state() const { return 0; }
  virtual void restore_schedule_state(int64_t /*state*/) {}

 protected:
  explicit Activation(std::string spec) : spec_(std::move(spec)) {}

 private:
  std::string spec_;
};

// Builds the activation a spec string names, sized for `channels`. Unknown
// names or options are errors naming them.
std::shared_ptr<Activation> make_activation(const std::string& spec, int64_t channels, Random& rng);
std::vector<std::string> activation_names();

}  // namespace actlab
