// Softmax cross-entropy on the GPU with PyTorch's label smoothing, one warp
// per row (twin of core/cpu/loss.cpp). One warp then adds the per-row losses
// in a fixed order (in double), so the loss is deterministic and stays on the
// device; the backward reads its seed there.
#include "core/cuda/cuda_common.h"
#include "core/cuda/cuda_kernels.h"

namespace actlab::cuda {
namespace {

// Every lane gets the sum (xor butterfly).
__device__ inline float warp_all_sum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ inline float warp_max(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

__global__ void cross_entropy_forward_kernel(const float* z, const int32_t* labels, float smoothing, float* lp,
                                             float* row_loss, int64_t N, int64_t K) {
  const int lane = threadIdx.x % 32;
  const int64_t warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  for (int64_t n = warp; n < N; n += warps) {
    const float* row = z + n * K;
    float max = -INFINITY;
    for (int64_t k = lane; k < K; k += 32) max = fmaxf(max, row[k]);
    max = warp_max(max);
    float sum = 0.0f;
    for (int64_t k = lane; k < K; k += 32) sum += expf(row[k] - max);
    const float log_sum = logf(warp_all_sum(sum)) + max;
    float all = 0.0f;
    for (int64_t k = lane; k < K; k += 32) {
      const float v = row[k] - log_sum;
      lp[n * K + k] = v;
      all += v;
    }
    all = warp_all_sum(all);
    if (lane == 0) {
      const float picked = row[labels[n]] - log_sum;
      row_loss[n] = -(1.0f - smoothing) * picked - smoothing / static_cast<float>(K) * all;
    }
  }
}

// loss = Σ_n row_loss[n] / N, by one warp.
__global__ void mean_rows_kernel(const float* row_loss, int64_t N, float* loss) {
  double sum = 0.0;
  for (int64_t n = threadIdx.x; n < N; n += 32) sum += row_loss[n];
  sum = warp_sum(sum);
  if (threadIdx.x == 0) loss[0] = static_cast<float>(sum / static_cast<double>(N));
}

__global__ void cross_entropy_backward_kernel(const float* lp, const int32_t* labels, float smoothing,
                                              const float* dloss, float* g, int64_t N, int64_t K) {
  const float uniform = smoothing / static_cast<float>(K);
  const float scale = dloss[0] / static_cast<float>(N);
  ACTLAB_GRID_STRIDE(i, N * K) {
    const int64_t n = i / K, k = i % K;
    const float target = uniform + (k == labels[n] ? 1.0f - smoothing : 0.0f);
    g[i] = scale * (expf(lp[i]) - target);
  }
}

}  // namespace

void cross_entropy_forward(const Tensor& logits, const int32_t* labels, float smoothing, Tensor& log_probs,
                           Tensor& loss) {
  const int64_t N = logits.size(0), K = logits.size(1);
  const int32_t* device_labels = upload_labels(labels, N);
  Tensor rows = scratch(N);
  cross_entropy_forward_kernel<<<blocks_for(N * 32), kThreads>>>(logits.data(), device_labels, smoothing,
                                                                 log_probs.data(), rows.data(), N, K);
  check_launch("cross_entropy_forward");
  mean_rows_kernel<<<1, 32>>>(rows.data(), N, loss.data());
  check_launch("cross_entropy mean");
}

void cross_entropy_backward(const Tensor& log_probs, const int32_t* labels, float smoothing, const Tensor& dloss,
                            Tensor& dlogits) {
  const int64_t N = log_probs.size(0), K = log_probs.size(1);
  const int32_t* device_labels = upload_labels(labels, N);
  cross_entropy_backward_kernel<<<blocks_for(N * K), kThreads>>>(log_probs.data(), device_labels, smoothing,
                                                                 dloss.data(), dlogits.data(), N, K);
  check_launch("cross_entropy_backward");
}

}  // namespace actlab::cuda
