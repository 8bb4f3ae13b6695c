// The fixed functions' fused CUDA kernels, twins of pointwise.cpp: the same
// formulas (pointwise_math.h), one thread per element.
#include "activations/cuda_twins.h"
#include "core/cuda/cuda_common.h"

namespace actlab::cuda {
namespace {

__global__ void pointwise_forward_kernel(Pointwise f, float option, const float* x, float* y, int64_t n) {
  ACTLAB_GRID_STRIDE(i, n) y[i] = pointwise::value(f, x[i], option);
}

__global__ void pointwise_backward_kernel(Pointwise f, float option, const float* x, const float* dy, float* dx,
                                          int64_t n) {
  ACTLAB_GRID_STRIDE(i, n) dx[i] = dy[i] * pointwise::slope(f, x[i], option);
}

}  // namespace

void pointwise_forward(Pointwise f, float option, const Tensor& x, Tensor& y) {
  pointwise_forward_kernel<<<blocks_for(x.numel()), kThreads>>>(f, option, x.data(), y.data(), x.numel());
  check_launch("pointwise_forward");
}

void pointwise_backward(Pointwise f, float option, const Tensor& x, const Tensor& dy, Tensor& dx) {
  pointwise_backward_kernel<<<blocks_for(x.numel()), kThreads>>>(f, option, x.data(), dy.data(), dx.data(),
                                                                 x.numel());
  check_launch("pointwise_backward");
}

}  // namespace actlab::cuda
