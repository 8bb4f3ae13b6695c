// Dropout (PyTorch nn.Dropout): in training, zero each element with
// probability p and scale the rest by 1/(1−p); identity in evaluation.
#pragma once
#include "layers/module.h"

namespace actlab {

class Dropout : public Module {
 public:
  explicit Dropout(float p);
  Var forward(const Var& x) override;
  std::string kind() const override { return "Dropout"; }
  std::string describe() const override;

 protected:
  void reseed_self(uint64_t seed) override { seed_ = seed; calls_ = 0; }

 private:
  float p_;
  uint64_t seed_ = 0, calls_ = 0;
};

}  // namespace actlab
