// ReLU's fused CUDA kernels, twins of relu.cpp: elementwise::relu and relu_grad.
#include "activations/cuda_twins.h"
#include "core/cuda/cuda_common.h"
#include "core/elementwise_math.h"

namespace actlab::cuda {
namespace {

__global__ void relu_forward_kernel(const float* x, float* y, int64_t n) {
  ACTLAB_GRID_STRIDE(i, n) y[i] = elementwise::relu(x[i]);
}

__global__ void relu_backward_kernel(const float* y, const float* dy, float* dx, int64_t n) {
  ACTLAB_GRID_STRIDE(i, n) dx[i] = elementwise::relu_grad(y[i], dy[i]);
}

}  // namespace

void relu_forward(const Tensor& x, Tensor& y) {
  relu_forward_kernel<<<blocks_for(x.numel()), kThreads>>>(x.data(), y.data(), x.numel());
  check_launch("relu_forward");
}

void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  relu_backward_kernel<<<blocks_for(y.numel()), kThreads>>>(y.data(), dy.data(), dx.data(), y.numel());
  check_launch("relu_backward");
}

}  // namespace actlab::cuda
