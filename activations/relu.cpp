// ReLU's fused CPU kernels and its composed reference (see relu.h).
#include "activations/relu.h"

#include "activations/cuda_twins.h"
#include "autograd/ops.h"
#include "core/elementwise_math.h"
#include "core/error.h"

namespace actlab {

Relu::Relu(Spec& spec) : Activation(spec.text()) { spec.finish(); }

void Relu::forward_kernel(const Tensor& x, const std::vector<Tensor>&, Tensor& y) const {
#ifdef ACTLAB_HAVE_CUDA
  if (x.device() == Device::cuda) return cuda::relu_forward(x, y);
#endif
  const float* in = x.data();
  float* out = y.data();
  const int64_t n = x.numel();
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) out[i] = elementwise::relu(in[i]);
}

void Relu::backward_kernel(const Tensor&, const Tensor& y, const Tensor& dy, const std::vector<Tensor>&,
                           Tensor& dx, std::vector<Tensor>&) const {
#ifdef ACTLAB_HAVE_CUDA
  if (y.device() == Device::cuda) return cuda::relu_backward(y, dy, dx);
#endif
  const float* out = y.data();
  const float* g = dy.data();
  float* d = dx.data();
  const int64_t n = y.numel();
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) d[i] = elementwise::relu_grad(out[i], g[i]);
}

Var Relu::composed(const Var& x) { return ops::relu(x); }

}  // namespace actlab
