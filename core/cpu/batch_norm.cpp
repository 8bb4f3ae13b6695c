// Batch normalisation over [N, C, H·W] on the CPU, one channel per thread.
// Training uses the biased batch variance to normalise and the unbiased one
// for the running estimate, as PyTorch does (SPEC 5). Sums are in double.
#include <cmath>

#include "core/cpu/cpu_kernels.h"
#include "core/cpu/lane_sums.h"

namespace actlab::cpu {

void batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                      Tensor& running_var, float momentum, float eps, Tensor& y, Tensor& save_mean,
                      Tensor& save_invstd) {
  const Planes planes = planes_of(x);
  const int64_t N = planes.N, C = planes.C, HW = planes.HW;
  const double count = static_cast<double>(N * HW);
  const float* xd = x.data();
  float* yd = y.data();
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    LaneSums sums;
    for (int64_t n = 0; n < N; ++n) {
      const float* row = xd + (n * C + c) * HW;
      sums.add(HW, [row](int64_t i) { return static_cast<double>(row[i]); });
    }
    const double mean = sums.total() / count;
    LaneSums squares;
    for (int64_t n = 0; n < N; ++n) {
      const float* row = xd + (n * C + c) * HW;
      squares.add(HW, [row, mean](int64_t i) {
        const double d = row[i] - mean;
        return d * d;
      });
    }
    const double sq = squares.total();
    const double var = sq / count;
    const float invstd = static_cast<float>(1.0 / std::sqrt(var + eps));
    save_mean.data()[c] = static_cast<float>(mean);
    save_invstd.data()[c] = invstd;
    const float scale = gamma.data()[c] * invstd;
    const float shift = beta.data()[c] - static_cast<float>(mean) * scale;
    for (int64_t n = 0; n < N; ++n) {
      const float* in = xd + (n * C + c) * HW;
      float* out = yd + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) out[i] = in[i] * scale + shift;
    }
    const double unbiased = count > 1 ? sq / (count - 1) : var;
    float& rm = running_mean.data()[c];
    float& rv = running_var.data()[c];
    rm = static_cast<float>((1.0 - momentum) * rm + momentum * mean);
    rv = static_cast<float>((1.0 - momentum) * rv + momentum * unbiased);
  }
}

void batch_norm_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                     const Tensor& running_var, float eps, Tensor& y) {
  const Planes planes = planes_of(x);
  const int64_t N = planes.N, C = planes.C, HW = planes.HW;
  const float* xd = x.data();
  float* yd = y.data();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      const float invstd = 1.0f / std::sqrt(running_var.data()[c] + eps);
      const float scale = gamma.data()[c] * invstd;
      const float shift = beta.data()[c] - running_mean.data()[c] * scale;
      const float* in = xd + (n * C + c) * HW;
      float* out = yd + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) out[i] = in[i] * scale + shift;
    }
  }
}

// dx = γ·invstd/M · (M·dy − Σdy − x̂·Σ(dy·x̂)), with M = N·H·W.
void batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                         const Tensor& save_invstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const Planes planes = planes_of(x);
  const int64_t N = planes.N, C = planes.C, HW = planes.HW;
  const double count = static_cast<double>(N * HW);
  const float* xd = x.data();
  const float* dyd = dy.data();
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    const float mean = save_mean.data()[c];
    const float invstd = save_invstd.data()[c];
    LaneSums dys, dy_xhats;
    for (int64_t n = 0; n < N; ++n) {
      const float* in = xd + (n * C + c) * HW;
      const float* g = dyd + (n * C + c) * HW;
      dys.add(HW, [g](int64_t i) { return static_cast<double>(g[i]); });
      dy_xhats.add(HW, [g, in, mean, invstd](int64_t i) { return static_cast<double>(g[i] * (in[i] - mean) * invstd); });
    }
    const double sum_dy = dys.total(), sum_dy_xhat = dy_xhats.total();
    dbeta.data()[c] = static_cast<float>(sum_dy);
    dgamma.data()[c] = static_cast<float>(sum_dy_xhat);
    if (!dx.defined()) continue;
    const float k = gamma.data()[c] * invstd;
    const float mean_dy = static_cast<float>(sum_dy / count);
    const float mean_dy_xhat = static_cast<float>(sum_dy_xhat / count);
    for (int64_t n = 0; n < N; ++n) {
      const float* in = xd + (n * C + c) * HW;
      const float* g = dyd + (n * C + c) * HW;
      float* out = dx.data() + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) {
        const float xhat = (in[i] - mean) * invstd;
        out[i] = k * (g[i] - mean_dy - xhat * mean_dy_xhat);
      }
    }
  }
}

}  // namespace actlab::cpu
