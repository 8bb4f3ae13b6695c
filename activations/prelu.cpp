// PReLU's fused CPU kernels and composed reference (see prelu.h). The weight
// gradient Σ x·dy over x ≤ 0 is summed per channel in double, in a fixed
// order, in the same pass that writes dx.
#include "activations/prelu.h"

#include <algorithm>

#include "activations/channel_math.h"
#include "activations/cuda_twins.h"
#include "autograd/ops.h"
#include "core/cpu/vector_math.h"

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
    const float* xp = in + plane * HW;
    float* yp = out + plane * HW;
#pragma omp simd
    for (int64_t i = 0; i < HW; ++i) yp[i] = xp[i] > 0.0f ? xp[i] : wc * xp[i];
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
  // Σ x·dy over x ≤ 0 per plane (float within a plane, double across), then
  // per channel over samples in order: deterministic.
  std::vector<double> partial(N * C);
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < N * C; ++plane) {
    const float wc = w[plane % C];
    const float* xp = in + plane * HW;
    const float* gp = g + plane * HW;
    float* dp = out + plane * HW;
    double total = 0.0;
    for (int64_t begin = 0; begin < HW; begin += cpu::kChunk) {
      const int64_t end = std::min(HW, begin + cpu::kChunk);
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = begin; i < end; ++i) {
        const bool positive = xp[i] > 0.0f;
        dp[i] = positive ? gp[i] : wc * gp[i];
        sum += positive ? 0.0f : xp[i] * gp[i];
      }
      total += sum;
    }
    partial[plane] = total;
  }
  if (dw) {
    for (int64_t c = 0; c < C; ++c) {
      double sum = 0.0;
      for (int64_t n = 0; n < N; ++n) sum += partial[n * C + c];
      dw[c] = static_cast<float>(sum);
    }
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
