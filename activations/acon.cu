// The ACON family's fused CUDA kernels, twins of acon.cpp. Forward: one
// thread per element. Backward: a grid of (channel, chunk) blocks computes dx
// and per-block partial sums of the parameter gradients; a second kernel adds
// each channel's partials in chunk order, so the result is deterministic.
#include <algorithm>

#include "activations/channel_math.h"
#include "activations/cuda_twins.h"
#include "core/cuda/cuda_common.h"

namespace actlab::cuda {
namespace {

constexpr int kChunkThreads = 256;

__global__ void acon_forward_kernel(const float* x, const float* a, const float* b, const float* beta, float* y,
                                    int64_t n, int64_t C, int64_t HW) {
  ACTLAB_GRID_STRIDE(i, n) {
    const int64_t c = (i / HW) % C;
    y[i] = channel::acon_value(x[i], a ? a[c] : 1.0f, b ? b[c] : 0.0f, beta[c]);
  }
}

// Block (c, chunk) covers elements chunk, chunk + chunks, ... of channel c's
// N·HW elements (thread-strided inside), then reduces its three sums.
__global__ void acon_backward_kernel(const float* x, const float* dy, const float* a, const float* b,
                                     const float* beta, float* dx, float* partial, int64_t N, int64_t C,
                                     int64_t HW) {
  const int64_t c = blockIdx.y;
  const int64_t per_channel = N * HW;
  const float ac = a ? a[c] : 1.0f, bc = b ? b[c] : 0.0f, betac = beta[c];
  float sum_a = 0.0f, sum_b = 0.0f, sum_beta = 0.0f;
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < per_channel;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = ((j / HW) * C + c) * HW + j % HW;
    const float xi = x[i], gi = dy[i];
    const channel::AconSlopes s = channel::acon_slopes(xi, ac, bc, betac);
    dx[i] = gi * s.x;
    sum_a += gi * s.a;
    sum_b += gi * (xi - s.a);
    sum_beta += gi * s.beta;
  }
  __shared__ float sa[kChunkThreads], sb[kChunkThreads], sbeta[kChunkThreads];
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
    float* p = partial + (c * gridDim.x + blockIdx.x) * 3;
    p[0] = sa[0];
    p[1] = sb[0];
    p[2] = sbeta[0];
  }
}

__global__ void acon_reduce_kernel(const float* partial, int chunks, int64_t C, float* da, float* db, float* dbeta) {
  ACTLAB_GRID_STRIDE(c, C) {
    double sa = 0.0, sb = 0.0, sbeta = 0.0;
    for (int k = 0; k < chunks; ++k) {
      const float* p = partial + (c * chunks + k) * 3;
      sa += p[0];
      sb += p[1];
      sbeta += p[2];
    }
    if (da) da[c] = static_cast<float>(sa);
    if (db) db[c] = static_cast<float>(sb);
    if (dbeta) dbeta[c] = static_cast<float>(sbeta);
  }
}

struct Layout {
  int64_t N, C, HW;
};

Layout layout_of(const Tensor& x) {
  int64_t HW = 1;
  for (int d = 2; d < x.ndim(); ++d) HW *= x.size(d);
  return {x.size(0), x.size(1), HW};
}

}  // namespace

void acon_forward(const Tensor& x, const float* a, const float* b, const float* beta, Tensor& y) {
  const auto [N, C, HW] = layout_of(x);
  acon_forward_kernel<<<blocks_for(x.numel()), kThreads>>>(x.data(), a, b, beta, y.data(), x.numel(), C, HW);
  check_launch("acon_forward");
}

void acon_backward(const Tensor& x, const Tensor& dy, const float* a, const float* b, const float* beta, Tensor& dx,
                   float* da, float* db, float* dbeta) {
  const auto [N, C, HW] = layout_of(x);
  // Enough blocks to fill the GPU, each with several elements per thread.
  const int64_t per_channel = N * HW;
  const int chunks = static_cast<int>(std::clamp<int64_t>(per_channel / (kChunkThreads * 8), 1, 64));
  Tensor partial = scratch(C * chunks * 3);
  acon_backward_kernel<<<dim3(chunks, static_cast<unsigned>(C)), kChunkThreads>>>(
      x.data(), dy.data(), a, b, beta, dx.data(), partial.data(), N, C, HW);
  check_launch("acon_backward");
  acon_reduce_kernel<<<blocks_for(C), kThreads>>>(partial.data(), chunks, C, da, db, dbeta);
  check_launch("acon_reduce");
}

}  // namespace actlab::cuda
