// PReLU's fused CUDA kernels, twins of prelu.cpp. The weight gradient is
// reduced per channel by one block in a fixed order: deterministic.
#include "activations/channel_math.h"
#include "activations/cuda_twins.h"
#include "core/cuda/cuda_common.h"

namespace actlab::cuda {
namespace {

__global__ void prelu_forward_kernel(const float* x, const float* w, float* y, int64_t n, int64_t C, int64_t HW) {
  ACTLAB_GRID_STRIDE(i, n) y[i] = channel::prelu_value(x[i], w[(i / HW) % C]);
}

__global__ void prelu_backward_kernel(const float* x, const float* dy, const float* w, float* dx, float* dw, int64_t N,
                                      int64_t C, int64_t HW) {
  const int64_t c = blockIdx.x;
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < N * HW; j += blockDim.x) {
    const int64_t i = ((j / HW) * C + c) * HW + j % HW;
    const bool positive = x[i] > 0.0f;
    dx[i] = positive ? dy[i] : w[c] * dy[i];
    if (!positive) sum += x[i] * dy[i];
  }
  __shared__ float partial[kThreads];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int width = blockDim.x / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) partial[threadIdx.x] += partial[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0 && dw) dw[c] = partial[0];
}

}  // namespace

void prelu_forward(const Tensor& x, const float* w, Tensor& y) {
  const int64_t C = x.size(1), HW = x.numel() / (x.size(0) * C);
  prelu_forward_kernel<<<blocks_for(x.numel()), kThreads>>>(x.data(), w, y.data(), x.numel(), C, HW);
  check_launch("prelu_forward");
}

void prelu_backward(const Tensor& x, const Tensor& dy, const float* w, Tensor& dx, float* dw) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.numel() / (N * C);
  prelu_backward_kernel<<<static_cast<unsigned>(C), kThreads>>>(x.data(), dy.data(), w, dx.data(), dw, N, C, HW);
  check_launch("prelu_backward");
}

}  // namespace actlab::cuda
