// Batch normalisation over channels (PyTorch nn.BatchNorm2d names and
// semantics: momentum 0.1, eps 1e-5, unbiased running variance).
#pragma once
#include "layers/module.h"

namespace actlab {

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, float momentum = 0.1f, float eps = 1e-5f);
  Var forward(const Var& x) override;
  std::string kind() const override { return "BatchNorm2d"; }
  std::string describe() const override { return "BatchNorm2d(" + std::to_string(channels_) + ")"; }

 private:
  int64_t channels_;
  float momentum_, eps_;
  Var weight_, bias_;
  Tensor* running_mean_;
  Tensor* running_var_;
  int64_t num_batches_tracked_ = 0;
};

}  // namespace actlab
