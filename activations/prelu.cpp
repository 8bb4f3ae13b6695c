// PReLU's fused CPU kernels and composed reference (see prelu.h). The weight
// gradient Σ x·dy over x ≤ 0 is summed per channel in double, in a fixed
// order, in the same pass that writes dx.
#include "activations/prelu.h"

#include "activations/channel_math.h"
#include "activations/cuda_twins.h"
#include "autograd/ops.h"

namespace actlab {

Prelu::Prelu(Spec& spec, int64_t channels) : Activation(spec.text()) {
  add_parameter("weight", Tensor::full({channels}, spec.get_float("init", 0.25f)), Role::act);
  spec.finish();
}

void Prelu::forward_kernel(const Tensor& x, const std::vector<Tensor>& ops, Tensor& y) const {
#ifdef ACTLAB_HAVE_CUDA
  if (x.device() == Device::cuda) return cuda::prelu_forward(x, ops[0].data(), y);
#endif
  const int64_t C = x.size(1), HW = x.numel() / (x.size(0) * C);
  const float* w = ops[0].data();
  const float* in = x.data();
  float* out = y.data();
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < x.size(0) * C; ++plane) {
    const float wc = w[plane % C];
    for (int64_t i = plane * HW; i < (plane + 1) * HW; ++i) out[i] = channel::prelu_value(in[i], wc);
  }
}

void Prelu::backward_kernel(const Tensor& x, const Tensor&, const Tensor& dy, const std::vector<Tensor>& ops, Tensor& dx,
                            std::vector<Tensor>& dops) const {
  float* dw = dops[0].defined() ? dops[0].data() : nullptr;
#ifdef ACTLAB_HAVE_CUDA
  if (x.device() == Device::cuda) return cuda::prelu_backward(x, dy, ops[0].data(), dx, dw);
#endif
  const int64_t N = x.size(0), C = x.size(1), HW = x.numel() / (N * C);
  const float* w = ops[0].data();
  const float* in = x.data();
  const float* g = dy.data();
  float* out = dx.data();
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t i = (n * C + c) * HW; i < (n * C + c + 1) * HW; ++i) {
        const bool positive = in[i] > 0.0f;
        out[i] = positive ? g[i] : w[c] * g[i];
        if (!positive) sum += in[i] * g[i];
      }
    }
    if (dw) dw[c] = static_cast<float>(sum);
  }
}

// relu(x) + w·min(x, 0), with w seen as [1, C, 1, 1].
Var Prelu::composed(const Var& x) {
  using namespace ops;
  Shape shape(x.shape().size(), 1);
  shape[1] = x.size(1);
  const Var w = reshape(own_parameters()[0].second.var, shape);
  return add(relu(x), mul(w, minimum(x, scalar(0.0f, x.device()))));
}

}  // namespace actlab
