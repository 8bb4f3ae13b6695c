// The SGD update of torch.optim.SGD with dampening 0, in place (twin of
// core/cpu/sgd.cpp):
//   g' = g + wd·w;  v = g' on the first step, else μ·v + g';
//   w −= lr·(nesterov ? g' + μ·v : v)      (plain SGD when μ = 0)
#include "core/cuda/cuda_common.h"
#include "core/cuda/cuda_kernels.h"

namespace actlab::cuda {
namespace {

__global__ void sgd_kernel(float* w, const float* g, float* v, float lr, float momentum, float weight_decay,
                           bool nesterov, bool first_step, int64_t n) {
  ACTLAB_GRID_STRIDE(i, n) {
    float d = g[i];
    if (weight_decay != 0.0f) d += weight_decay * w[i];
    if (v) {
      v[i] = first_step ? d : momentum * v[i] + d;
      d = nesterov ? d + momentum * v[i] : v[i];
    }
    w[i] -= lr * d;
  }
}

}  // namespace

void sgd_step(Tensor& w, const Tensor& g, Tensor& velocity, float lr, float momentum, float weight_decay,
              bool nesterov, bool first_step) {
  float* v = momentum != 0.0f ? velocity.data() : nullptr;
  sgd_kernel<<<blocks_for(w.numel()), kThreads>>>(w.data(), g.data(), v, lr, momentum, weight_decay, nesterov,
                                                  first_step, w.numel());
  check_launch("sgd_step");
}

}  // namespace actlab::cuda
