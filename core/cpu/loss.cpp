// Softmax cross-entropy on the CPU, with PyTorch's label smoothing:
// loss_n = −(1−s)·log p[y_n] − (s/K)·Σ_k log p[k], averaged over the batch.
#include <cmath>

#include "core/cpu/cpu_kernels.h"

namespace actlab::cpu {

void cross_entropy_forward(const Tensor& logits, const int32_t* labels, float smoothing, Tensor& log_probs,
                           Tensor& loss) {
  const int64_t N = logits.size(0), K = logits.size(1);
  const float* z = logits.data();
  float* lp = log_probs.data();
  double total = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const float* row = z + n * K;
    float max = row[0];
    for (int64_t k = 1; k < K; ++k) max = std::fmax(max, row[k]);
    double sum = 0.0;
    for (int64_t k = 0; k < K; ++k) sum += std::exp(static_cast<double>(row[k] - max));
    const double log_sum = std::log(sum) + max;
    double all = 0.0;
    for (int64_t k = 0; k < K; ++k) {
      lp[n * K + k] = static_cast<float>(row[k] - log_sum);
      all += row[k] - log_sum;
    }
    const double picked = row[labels[n]] - log_sum;
    total += -(1.0 - smoothing) * picked - smoothing / static_cast<double>(K) * all;
  }
  loss.data()[0] = static_cast<float>(total / static_cast<double>(N));
}

// dlogits = dloss/N · (softmax − (1−s)·onehot − s/K)
void cross_entropy_backward(const Tensor& log_probs, const int32_t* labels, float smoothing, const Tensor& dloss,
                            Tensor& dlogits) {
  const int64_t N = log_probs.size(0), K = log_probs.size(1);
  const float scale = dloss.data()[0] / static_cast<float>(N);
  const float uniform = smoothing / static_cast<float>(K);
  const float* lp = log_probs.data();
  float* g = dlogits.data();
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) {
      float target = uniform + (k == labels[n] ? 1.0f - smoothing : 0.0f);
      g[n * K + k] = scale * (std::exp(lp[n * K + k]) - target);
    }
  }
}

}  // namespace actlab::cpu
