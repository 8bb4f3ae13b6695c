// Batch normalisation layer (see batch_norm.h).
#include "layers/batch_norm.h"

#include "autograd/ops.h"

namespace actlab {

BatchNorm2d::BatchNorm2d(int64_t channels, float momentum, float eps)
    : channels_(channels), momentum_(momentum), eps_(eps) {
  weight_ = add_parameter("weight", Tensor::full({channels}, 1.0f), Role::bn);
  bias_ = add_parameter("bias", Tensor::zeros({channels}), Role::bn);
  running_mean_ = add_buffer("running_mean", Tensor::zeros({channels}));
  running_var_ = add_buffer("running_var", Tensor::full({channels}, 1.0f));
  add_counter("num_batches_tracked", &num_batches_tracked_);
}

Var BatchNorm2d::forward(const Var& x) {
  if (training()) ++num_batches_tracked_;
  return ops::batch_norm(x, weight_, bias_, *running_mean_, *running_var_, training(), momentum_, eps_);
}

}  // namespace actlab
