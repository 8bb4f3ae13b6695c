// The ACON family's fused CUDA kernels, twins of acon.cpp. Forward: one
// thread per element. Backward: one block per (sample, channel) plane writes
// dx and its plane's three gradient sums (a fixed-order tree); a second kernel
// adds the planes' sums in sample order, so the result is deterministic.
#include "activations/channel_math.h"
#include "activations/cuda_twins.h"
#include "core/cuda/cuda_common.h"

namespace actlab::cuda {
namespace {

__global__ void acon_forward_kernel(const float* x, const float* a, const float* b, const float* beta, BetaMode mode,
                                    float* y, int64_t n, int64_t C, int64_t HW) {
  ACTLAB_GRID_STRIDE(i, n) {
    const int64_t plane = i / HW, c = plane % C;
    const float bi = mode == BetaMode::element ? beta[i] : beta[beta_index(mode, plane / C, c, C)];
    y[i] = channel::acon_value(x[i], a ? a[c] : 1.0f, b ? b[c] : 0.0f, bi);
  }
}

__global__ void acon_backward_kernel(const float* x, const float* dy, const float* a, const float* b,
                                     const float* beta, BetaMode mode, float* dx, float* dbeta_element,
                                     float* partial, int64_t C, int64_t HW) {
  const int64_t plane = blockIdx.x, c = plane % C;
  const float ac = a ? a[c] : 1.0f, bc = b ? b[c] : 0.0f;
  const float beta_plane = mode == BetaMode::element ? 0.0f : beta[beta_index(mode, plane / C, c, C)];
  float sum_a = 0.0f, sum_b = 0.0f, sum_beta = 0.0f;
  for (int64_t j = threadIdx.x; j < HW; j += blockDim.x) {
    const int64_t i = plane * HW + j;
    const float xi = x[i], gi = dy[i];
    const float bi = mode == BetaMode::element ? beta[i] : beta_plane;
    const channel::AconSlopes s = channel::acon_slopes(xi, ac, bc, bi);
    dx[i] = gi * s.x;
    sum_a += gi * s.a;
    sum_b += gi * (xi - s.a);
    sum_beta += gi * s.beta;
    if (dbeta_element) dbeta_element[i] = gi * s.beta;
  }
  __shared__ float sa[kThreads], sb[kThreads], sbeta[kThreads];
  sa[threadIdx.x] = sum_a;
  sb[threadIdx.x] = sum_b;
  sbeta[threadIdx.x] = sum_beta;
  __syncthreads();
  for (int width = blockDim.x / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) {
      sa[threadIdx.x] += sa[threadIdx.x + width];
      sb[threadIdx.x] += sb[threadIdx.x + width];
      sbeta[threadIdx.x] += sbeta[threadIdx.x + width];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    partial[plane * 3 + 0] = sa[0];
    partial[plane * 3 + 1] = sb[0];
    partial[plane * 3 + 2] = sbeta[0];
  }
}

// Per channel: a and b sums over samples; β's by its sharing.
__global__ void acon_reduce_kernel(const float* partial, BetaMode mode, int64_t N, int64_t C, float* da, float* db,
                                   float* dbeta) {
  ACTLAB_GRID_STRIDE(c, C) {
    double sa = 0.0, sb = 0.0, sbeta = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const float* p = partial + (n * C + c) * 3;
      sa += p[0];
      sb += p[1];
      sbeta += p[2];
      if (dbeta && mode == BetaMode::sample_channel) dbeta[n * C + c] = p[2];
    }
    if (da) da[c] = static_cast<float>(sa);
    if (db) db[c] = static_cast<float>(sb);
    if (dbeta && mode == BetaMode::channel) dbeta[c] = static_cast<float>(sbeta);
  }
}

__global__ void acon_reduce_samples_kernel(const float* partial, int64_t N, int64_t C, float* dbeta) {
  ACTLAB_GRID_STRIDE(n, N) {
    double sum = 0.0;
    for (int64_t c = 0; c < C; ++c) sum += partial[(n * C + c) * 3 + 2];
    dbeta[n] = static_cast<float>(sum);
  }
}


}  // namespace

void acon_forward(const Tensor& x, const float* a, const float* b, const float* beta, BetaMode mode, Tensor& y) {
  const auto [N, C, HW] = planes_of(x);
  acon_forward_kernel<<<blocks_for(x.numel()), kThreads>>>(x.data(), a, b, beta, mode, y.data(), x.numel(), C, HW);
  check_launch("acon_forward");
}

void acon_backward(const Tensor& x, const Tensor& dy, const float* a, const float* b, const float* beta, BetaMode mode,
                   Tensor& dx, float* da, float* db, float* dbeta) {
  const auto [N, C, HW] = planes_of(x);
  Tensor partial = scratch(N * C * 3);
  const int threads = HW >= kThreads ? kThreads : (HW > 64 ? 128 : 64);
  acon_backward_kernel<<<static_cast<unsigned>(N * C), threads>>>(
      x.data(), dy.data(), a, b, beta, mode, dx.data(), mode == BetaMode::element ? dbeta : nullptr, partial.data(),
      C, HW);
  check_launch("acon_backward");
  acon_reduce_kernel<<<blocks_for(C), kThreads>>>(partial.data(), mode, N, C, da, db, dbeta);
  check_launch("acon_reduce");
  if (dbeta && mode == BetaMode::sample) {
    acon_reduce_samples_kernel<<<blocks_for(N), kThreads>>>(partial.data(), N, C, dbeta);
    check_launch("acon_reduce_samples");
  }
}

}  // namespace actlab::cuda
