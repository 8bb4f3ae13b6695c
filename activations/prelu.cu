// PReLU's fused CUDA kernels, twins of prelu.cpp. The backward writes dx and
// one weight-gradient sum per (sample, channel) plane; a second kernel adds
// the planes in sample order per channel, so the result is deterministic.
#include "activations/channel_math.h"
#include "activations/cuda_twins.h"
#include "core/cuda/cuda_common.h"

namespace actlab::cuda {
namespace {

__global__ void prelu_forward_kernel(const float* x, const float* w, float* y, int64_t n, int64_t C, int64_t HW) {
  ACTLAB_GRID_STRIDE(i, n) y[i] = channel::prelu_value(x[i], w[(i / HW) % C]);
}

// One block per (sample, channel) plane: dx, and the plane's weight-gradient
// sum by a fixed-order tree.
__global__ void prelu_backward_kernel(const float* x, const float* dy, const float* w, float* dx, float* partial,
                                      int64_t C, int64_t HW) {
  const int64_t plane = blockIdx.x;
  const float wc = w[plane % C];
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < HW; j += blockDim.x) {
    const int64_t i = plane * HW + j;
    const float xi = x[i], gi = dy[i];
    const bool positive = xi > 0.0f;
    dx[i] = positive ? gi : wc * gi;
    if (!positive) sum += xi * gi;
  }
  __shared__ float lanes[kThreads];
  lanes[threadIdx.x] = sum;
  __syncthreads();
  for (int width = blockDim.x / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) lanes[threadIdx.x] += lanes[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0 && partial) partial[plane] = lanes[0];
}

// Per channel, the planes' sums in sample order.
__global__ void prelu_reduce_kernel(const float* partial, int64_t N, int64_t C, float* dw) {
  ACTLAB_GRID_STRIDE(c, C) {
    double sum = 0.0;
    for (int64_t n = 0; n < N; ++n) sum += partial[n * C + c];
    dw[c] = static_cast<float>(sum);
  }
}

}  // namespace

void prelu_forward(const Tensor& x, const float* w, Tensor& y) {
  const int64_t C = x.size(1), HW = x.numel() / (x.size(0) * C);
  prelu_forward_kernel<<<blocks_for(x.numel()), kThreads>>>(x.data(), w, y.data(), x.numel(), C, HW);
  check_launch("prelu_forward");
}

void prelu_backward(const Tensor& x, const Tensor& dy, const float* w, Tensor& dx, float* dw) {
  const auto [N, C, HW] = planes_of(x);
  Tensor partial = dw ? scratch(N * C) : Tensor();
  const int threads = HW >= kThreads ? kThreads : (HW > 64 ? 128 : 64);
  prelu_backward_kernel<<<static_cast<unsigned>(N * C), threads>>>(x.data(), dy.data(), w, dx.data(),
                                                                    dw ? partial.data() : nullptr, C, HW);
  check_launch("prelu_backward");
  if (dw) {
    prelu_reduce_kernel<<<blocks_for(C), kThreads>>>(partial.data(), N, C, dw);
    check_launch("prelu_reduce");
  }
}

}  // namespace actlab::cuda
