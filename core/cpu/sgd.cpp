// The SGD update of torch.optim.SGD with dampening 0, in place:
//   g' = g + wd·w;  v = g' on the first step, else μ·v + g';
//   w −= lr·(nesterov ? g' + μ·v : v)      (plain SGD when μ = 0)
#include "core/cpu/cpu_kernels.h"

namespace actlab::cpu {

void sgd_step(Tensor& w, const Tensor& g, Tensor& velocity, float lr, float momentum, float weight_decay,
              bool nesterov, bool first_step) {
  float* wd = w.data();
  const float* gd = g.data();
  float* vd = momentum != 0.0f ? velocity.data() : nullptr;
  const int64_t n = w.numel();
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) {
    float d = gd[i];
    if (weight_decay != 0.0f) d += weight_decay * wd[i];
    if (vd) {
      vd[i] = first_step ? d : momentum * vd[i] + d;
      d = nesterov ? d + momentum * vd[i] : vd[i];
    }
    wd[i] -= lr * d;
  }
}

}  // namespace actlab::cpu
