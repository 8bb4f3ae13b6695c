// Max and average pooling on the GPU, one thread per output element; the
// backward passes gather per input element, so no atomics and no races.
// argmax holds the flat index inside the input plane, stored as float, as on
// the CPU.
#include "core/cuda/cuda_common.h"
#include "core/cuda/cuda_kernels.h"
#include "core/pool_math.h"

namespace actlab::cuda {
namespace {

__global__ void max_pool_forward(PoolShape s, const float* x, float* y, float* argmax) {
  ACTLAB_GRID_STRIDE(o, s.N * s.C * s.P * s.Q) {
    const int64_t q = o % s.Q, p = (o / s.Q) % s.P, plane = o / (s.P * s.Q);
    int64_t where;
    const float best = pooling::max_window(s, x + plane * s.H * s.W, p, q, where);
    y[o] = best;
    argmax[o] = static_cast<float>(where);
  }
}

// The output windows that can contain input row h: p in [first, last].
__device__ inline void window_range(int64_t h, int kernel, int stride, int pad, int64_t P, int64_t& first,
                                    int64_t& last) {
  const int64_t hp = h + pad;
  first = hp < kernel ? 0 : (hp - kernel) / stride + 1;
  last = min(hp / stride, P - 1);
}

__global__ void max_pool_backward(PoolShape s, const float* dy, const float* argmax, float* dx) {
  ACTLAB_GRID_STRIDE(i, s.N * s.C * s.H * s.W) {
    const int64_t w = i % s.W, h = (i / s.W) % s.H, plane = i / (s.H * s.W);
    const int64_t flat = h * s.W + w;
    int64_t p0, p1, q0, q1;
    window_range(h, s.kernel, s.stride, s.pad, s.P, p0, p1);
    window_range(w, s.kernel, s.stride, s.pad, s.Q, q0, q1);
    float sum = 0.0f;
    for (int64_t p = p0; p <= p1; ++p)
      for (int64_t q = q0; q <= q1; ++q) {
        const int64_t o = (plane * s.P + p) * s.Q + q;
        if (static_cast<int64_t>(argmax[o]) == flat) sum += dy[o];
      }
    dx[i] = sum;
  }
}

// Zero padding counts in the divisor (PyTorch's default), as on the CPU.
__global__ void avg_pool_forward(PoolShape s, const float* x, float* y) {
  const float inv = 1.0f / static_cast<float>(s.kernel * s.kernel);
  ACTLAB_GRID_STRIDE(o, s.N * s.C * s.P * s.Q) {
    const int64_t q = o % s.Q, p = (o / s.Q) % s.P, plane = o / (s.P * s.Q);
    const float sum = pooling::sum_window(s, x + plane * s.H * s.W, p, q);
    y[o] = sum * inv;
  }
}

__global__ void avg_pool_backward(PoolShape s, const float* dy, float* dx) {
  const float inv = 1.0f / static_cast<float>(s.kernel * s.kernel);
  ACTLAB_GRID_STRIDE(i, s.N * s.C * s.H * s.W) {
    const int64_t w = i % s.W, h = (i / s.W) % s.H, plane = i / (s.H * s.W);
    int64_t p0, p1, q0, q1;
    window_range(h, s.kernel, s.stride, s.pad, s.P, p0, p1);
    window_range(w, s.kernel, s.stride, s.pad, s.Q, q0, q1);
    float sum = 0.0f;
    for (int64_t p = p0; p <= p1; ++p)
      for (int64_t q = q0; q <= q1; ++q) sum += dy[(plane * s.P + p) * s.Q + q];
    dx[i] = sum * inv;
  }
}

}  // namespace

void max_pool2d_forward(const PoolShape& s, const Tensor& x, Tensor& y, Tensor& argmax) {
  max_pool_forward<<<blocks_for(y.numel()), kThreads>>>(s, x.data(), y.data(), argmax.data());
  check_launch("max_pool_forward");
}

void max_pool2d_backward(const PoolShape& s, const Tensor& dy, const Tensor& argmax, Tensor& dx) {
  max_pool_backward<<<blocks_for(dx.numel()), kThreads>>>(s, dy.data(), argmax.data(), dx.data());
  check_launch("max_pool_backward");
}

void avg_pool2d_forward(const PoolShape& s, const Tensor& x, Tensor& y) {
  avg_pool_forward<<<blocks_for(y.numel()), kThreads>>>(s, x.data(), y.data());
  check_launch("avg_pool_forward");
}

void avg_pool2d_backward(const PoolShape& s, const Tensor& dy, Tensor& dx) {
  avg_pool_backward<<<blocks_for(dx.numel()), kThreads>>>(s, dy.data(), dx.data());
  check_launch("avg_pool_backward");
}

}  // namespace actlab::cuda
