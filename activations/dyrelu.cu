// DyReLU's fused CUDA kernels, twins of dyrelu.cpp. Forward: a grid over
// (plane, pixels). Backward: one block per (sample, channel) plane writes dx
// and its plane's 2K coefficient sums (fixed-order tree); dyrelu-a's shared
// coefficients are then summed over channels in order, and dyrelu-c's ∂L/∂π
// by one thread per (sample, pixel) over channels in order.
#include "activations/cuda_twins.h"
#include "activations/dyrelu_math.h"
#include "core/cuda/cuda_common.h"

namespace actlab::cuda {
namespace {

__global__ void dyrelu_forward_kernel(const float* x, const float* coefs, bool shared, int K, const float* pi,
                                      float* y, int64_t planes, int64_t C, int64_t HW) {
  ACTLAB_PLANES(plane, planes) {
    const int64_t b = plane / C;
    const float* coef = coefs + (shared ? b : plane) * 2 * K;
    ACTLAB_PLANE_PIXELS(h, HW) {
      float v;
      dyrelu::winner(coef, K, x[plane * HW + h], v);
      y[plane * HW + h] = pi ? pi[b * HW + h] * v : v;
    }
  }
}

// Dynamic shared memory: 2K sums per thread.
__global__ void dyrelu_backward_kernel(const float* x, const float* dy, const float* coefs, bool shared, int K,
                                       const float* pi, float* dx, float* partial, int64_t C, int64_t HW) {
  extern __shared__ float sums[];   // [2K][blockDim.x]
  const int64_t plane = blockIdx.x, b = plane / C;
  const int lines = 2 * K;
  const float* coef = coefs + (shared ? b : plane) * lines;
  for (int j = 0; j < lines; ++j) sums[j * blockDim.x + threadIdx.x] = 0.0f;
  for (int64_t h = threadIdx.x; h < HW; h += blockDim.x) {
    const int64_t i = plane * HW + h;
    const float gi = dy[i] * (pi ? pi[b * HW + h] : 1.0f);
    float v;
    const int k = dyrelu::winner(coef, K, x[i], v);
    dx[i] = gi * coef[k];
    sums[k * blockDim.x + threadIdx.x] += gi * x[i];
    sums[(K + k) * blockDim.x + threadIdx.x] += gi;
  }
  __syncthreads();
  for (int width = blockDim.x / 2; width > 0; width /= 2) {
    if (threadIdx.x < width)
      for (int j = 0; j < lines; ++j) sums[j * blockDim.x + threadIdx.x] += sums[j * blockDim.x + threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0)
    for (int j = 0; j < lines; ++j) partial[plane * lines + j] = sums[j * blockDim.x];
}

__global__ void dyrelu_shared_reduce_kernel(const float* partial, int lines, int64_t N, int64_t C, float* dcoef) {
  ACTLAB_GRID_STRIDE(t, N * lines) {
    const int64_t b = t / lines, j = t % lines;
    double sum = 0.0;
    for (int64_t c = 0; c < C; ++c) sum += partial[(b * C + c) * lines + j];
    dcoef[t] = static_cast<float>(sum);
  }
}

__global__ void dyrelu_attention_grad_kernel(const float* x, const float* dy, const float* coefs, int K, float* dpi,
                                             int64_t N, int64_t C, int64_t HW) {
  ACTLAB_GRID_STRIDE(t, N * HW) {
    const int64_t b = t / HW, h = t % HW;
    double sum = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t i = (b * C + c) * HW + h;
      float v;
      dyrelu::winner(coefs + (b * C + c) * 2 * K, K, x[i], v);
      sum += dy[i] * v;
    }
    dpi[t] = static_cast<float>(sum);
  }
}

}  // namespace

void dyrelu_forward(const Tensor& x, const float* coefs, bool shared, int K, const float* pi, Tensor& y) {
  const auto [N, C, HW] = planes_of(x);
  const PlaneGrid g = plane_grid(N * C, HW);
  dyrelu_forward_kernel<<<g.blocks, g.threads>>>(x.data(), coefs, shared, K, pi, y.data(), N * C, C, HW);
  check_launch("dyrelu_forward");
}

void dyrelu_backward(const Tensor& x, const Tensor& dy, const float* coefs, bool shared, int K, const float* pi,
                     Tensor& dx, float* dcoef, float* dpi) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.numel() / (N * C);
  const int lines = 2 * K;
  const unsigned threads = threads_for_plane(HW);
  // Per-channel coefficients: the planes' sums are the gradient itself.
  Tensor partial = shared || !dcoef ? scratch(N * C * lines) : Tensor();
  float* sums = partial.defined() ? partial.data() : dcoef;
  dyrelu_backward_kernel<<<static_cast<unsigned>(N * C), threads, lines * threads * sizeof(float)>>>(
      x.data(), dy.data(), coefs, shared, K, pi, dx.data(), sums, C, HW);
  check_launch("dyrelu_backward");
  if (dcoef && shared) {
    dyrelu_shared_reduce_kernel<<<blocks_for(N * lines), kThreads>>>(sums, lines, N, C, dcoef);
    check_launch("dyrelu_shared_reduce");
  }
  if (dpi) {
    dyrelu_attention_grad_kernel<<<blocks_for(N * HW), kThreads>>>(x.data(), dy.data(), coefs, K, dpi, N, C, HW);
    check_launch("dyrelu_attention_grad");
  }
}

}  // namespace actlab::cuda
