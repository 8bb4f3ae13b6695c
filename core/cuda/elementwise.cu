// Elementwise GPU kernels: unary maps with their derivatives, broadcasting
// binary ops and the reduction that undoes broadcasting, the spatial mean,
// ResNet's option-A shortcut and the finiteness check. Twins of
// core/cpu/elementwise.cpp; every reduction has a fixed order (deterministic).
#include "core/cuda/cuda_common.h"
#include "core/cuda/cuda_kernels.h"
#include "core/elementwise_math.h"

namespace actlab::cuda {
namespace {

constexpr int kMaxDims = 8;

using elementwise::apply;
using elementwise::combine;
using elementwise::derivative;

// A shape and per-operand strides seen through it (0 where broadcast).
struct Broadcast {
  int ndim;
  int64_t size[kMaxDims];
  int64_t stride_a[kMaxDims];
  int64_t stride_b[kMaxDims];
};

void strides_into(const Shape& t, const Shape& out, int64_t* strides) {
  int64_t stride = 1;
  for (size_t j = 0; j < out.size(); ++j) strides[j] = 0;
  for (int i = static_cast<int>(t.size()) - 1, j = static_cast<int>(out.size()) - 1; i >= 0; --i, --j) {
    strides[j] = t[i] == 1 ? 0 : stride;
    stride *= t[i];
  }
}

Broadcast make_broadcast(const Shape& out, const Shape& a, const Shape& b) {
  actlab::check(out.size() <= kMaxDims, "broadcast: more than 8 dimensions on the GPU");
  Broadcast g{};
  g.ndim = static_cast<int>(out.size());
  for (int d = 0; d < g.ndim; ++d) g.size[d] = out[d];
  strides_into(a, out, g.stride_a);
  strides_into(b, out, g.stride_b);
  return g;
}

__global__ void unary_forward_kernel(UnaryOp op, const float* x, float* y, int64_t n) {
  ACTLAB_GRID_STRIDE(i, n) y[i] = apply(op, x[i]);
}

__global__ void unary_backward_kernel(UnaryOp op, const float* x, const float* y, const float* dy, float* dx,
                                      int64_t n) {
  ACTLAB_GRID_STRIDE(i, n) dx[i] = dy[i] * derivative(op, x[i], y[i]);
}

__global__ void binary_same_kernel(BinaryOp op, const float* a, const float* b, float* out, int64_t n) {
  ACTLAB_GRID_STRIDE(i, n) out[i] = combine(op, a[i], b[i]);
}

__global__ void binary_broadcast_kernel(BinaryOp op, Broadcast g, const float* a, const float* b, float* out,
                                        int64_t n) {
  ACTLAB_GRID_STRIDE(i, n) {
    int64_t rest = i, ia = 0, ib = 0;
    for (int d = g.ndim - 1; d >= 0; --d) {
      const int64_t idx = rest % g.size[d];
      rest /= g.size[d];
      ia += idx * g.stride_a[d];
      ib += idx * g.stride_b[d];
    }
    out[i] = combine(op, a[ia], b[ib]);
  }
}

__global__ void affine_kernel(const float* x, float alpha, float beta, float* y, int64_t n) {
  ACTLAB_GRID_STRIDE(i, n) y[i] = alpha * x[i] + beta;
}

// sum_to: the input's dims split into kept ones (indexing the output) and
// reduced ones. One block per output element sums its `reduced` inputs in a
// fixed order (thread-strided, then a tree), so the result is deterministic.
struct Reduction {
  int kept_dims, reduced_dims;
  int64_t kept_size[kMaxDims], kept_stride[kMaxDims];
  int64_t reduced_size[kMaxDims], reduced_stride[kMaxDims];
  int64_t reduced;   // elements summed per output
};

__global__ void sum_to_kernel(Reduction r, const float* x, float* out, int64_t outputs) {
  __shared__ double partial[kThreads];
  for (int64_t o = blockIdx.x; o < outputs; o += gridDim.x) {
    int64_t base = 0, rest = o;
    for (int d = r.kept_dims - 1; d >= 0; --d) {
      base += (rest % r.kept_size[d]) * r.kept_stride[d];
      rest /= r.kept_size[d];
    }
    double sum = 0.0;
    for (int64_t k = threadIdx.x; k < r.reduced; k += blockDim.x) {
      int64_t offset = base, left = k;
      for (int d = r.reduced_dims - 1; d >= 0; --d) {
        offset += (left % r.reduced_size[d]) * r.reduced_stride[d];
        left /= r.reduced_size[d];
      }
      sum += x[offset];
    }
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int width = blockDim.x / 2; width > 0; width /= 2) {
      if (threadIdx.x < width) partial[threadIdx.x] += partial[threadIdx.x + width];
      __syncthreads();
    }
    if (threadIdx.x == 0) out[o] = static_cast<float>(partial[0]);
    __syncthreads();
  }
}

// One warp per (n, c) plane.
__global__ void mean_hw_forward_kernel(const float* x, float* y, int64_t planes, int64_t HW) {
  const int lane = threadIdx.x % 32;
  const int64_t warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  for (int64_t p = warp; p < planes; p += warps) {
    float sum = 0.0f;
    for (int64_t i = lane; i < HW; i += 32) sum += x[p * HW + i];
    sum = warp_sum(sum);
    if (lane == 0) y[p] = sum / static_cast<float>(HW);
  }
}

__global__ void mean_hw_backward_kernel(const float* dy, float* dx, int64_t planes, int64_t HW) {
  const float inv = 1.0f / static_cast<float>(HW);
  ACTLAB_PLANES(plane, planes) {
    const float g = dy[plane] * inv;
    ACTLAB_PLANE_PIXELS(h, HW) dx[plane * HW + h] = g;
  }
}

__global__ void shortcut_a_forward_kernel(const float* x, float* y, int64_t C, int64_t H, int64_t W, int64_t K,
                                          int64_t P, int64_t Q, int64_t pad, int64_t n) {
  ACTLAB_GRID_STRIDE(i, n) {
    const int64_t q = i % Q, p = (i / Q) % P, k = (i / (P * Q)) % K, b = i / (K * P * Q);
    const int64_t c = k - pad;
    y[i] = (c < 0 || c >= C) ? 0.0f : x[((b * C + c) * H + 2 * p) * W + 2 * q];
  }
}

__global__ void shortcut_a_backward_kernel(const float* dy, float* dx, int64_t C, int64_t H, int64_t W, int64_t K,
                                           int64_t P, int64_t Q, int64_t pad, int64_t n) {
  ACTLAB_GRID_STRIDE(i, n) {
    const int64_t w = i % W, h = (i / W) % H, c = (i / (H * W)) % C, b = i / (C * H * W);
    dx[i] = (h % 2 || w % 2) ? 0.0f : dy[((b * K + c + pad) * P + h / 2) * Q + w / 2];
  }
}

__global__ void all_finite_kernel(const float* x, int64_t n, int* bad) {
  ACTLAB_GRID_STRIDE(i, n) if (!isfinite(x[i])) *bad = 1;
}

}  // namespace

void unary_forward(UnaryOp op, const Tensor& x, Tensor& y) {
  unary_forward_kernel<<<blocks_for(x.numel()), kThreads>>>(op, x.data(), y.data(), x.numel());
  check_launch("unary_forward");
}

void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) {
  unary_backward_kernel<<<blocks_for(x.numel()), kThreads>>>(op, x.data(), y.data(), dy.data(), dx.data(),
                                                             x.numel());
  check_launch("unary_backward");
}

void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  if (a.shape() == b.shape()) {
    binary_same_kernel<<<blocks_for(out.numel()), kThreads>>>(op, a.data(), b.data(), out.data(), out.numel());
  } else {
    const Broadcast g = make_broadcast(out.shape(), a.shape(), b.shape());
    binary_broadcast_kernel<<<blocks_for(out.numel()), kThreads>>>(op, g, a.data(), b.data(), out.data(),
                                                                   out.numel());
  }
  check_launch("binary_forward");
}

void affine_scalar(const Tensor& x, float alpha, float beta, Tensor& y) {
  affine_kernel<<<blocks_for(x.numel()), kThreads>>>(x.data(), alpha, beta, y.data(), x.numel());
  check_launch("affine_scalar");
}

void sum_to(const Tensor& x, Tensor& out) {
  if (x.shape() == out.shape()) {
    out.copy_from(x);
    return;
  }
  const Shape& xs = x.shape();
  actlab::check(xs.size() <= kMaxDims, "sum_to: more than 8 dimensions on the GPU");
  int64_t so[kMaxDims];
  strides_into(out.shape(), xs, so);   // the output's strides seen through x's shape
  Reduction r{};
  int64_t stride = 1;
  int64_t xstride[kMaxDims];
  for (int d = static_cast<int>(xs.size()) - 1; d >= 0; --d) {
    xstride[d] = stride;
    stride *= xs[d];
  }
  r.reduced = 1;
  for (size_t d = 0; d < xs.size(); ++d) {
    const bool kept = so[d] != 0 || xs[d] == 1;
    if (kept) {
      r.kept_size[r.kept_dims] = xs[d];
      r.kept_stride[r.kept_dims++] = xstride[d];
    } else {
      r.reduced_size[r.reduced_dims] = xs[d];
      r.reduced_stride[r.reduced_dims++] = xstride[d];
      r.reduced *= xs[d];
    }
  }
  const int64_t outputs = out.numel();
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(outputs, 1), 65535));
  sum_to_kernel<<<blocks, kThreads>>>(r, x.data(), out.data(), outputs);
  check_launch("sum_to");
}

void mean_hw_forward(const Tensor& x, Tensor& y) {
  const int64_t planes = x.size(0) * x.size(1), HW = x.numel() / std::max<int64_t>(planes, 1);
  mean_hw_forward_kernel<<<blocks_for(planes * 32), kThreads>>>(x.data(), y.data(), planes, HW);
  check_launch("mean_hw_forward");
}

void mean_hw_backward(const Tensor& dy, Tensor& dx) {
  const int64_t planes = dx.size(0) * dx.size(1), HW = dx.numel() / std::max<int64_t>(planes, 1);
  const PlaneGrid g = plane_grid(planes, HW);
  mean_hw_backward_kernel<<<g.blocks, g.threads>>>(dy.data(), dx.data(), planes, HW);
  check_launch("mean_hw_backward");
}

void shortcut_a_forward(const Tensor& x, int64_t pad, Tensor& y) {
  shortcut_a_forward_kernel<<<blocks_for(y.numel()), kThreads>>>(x.data(), y.data(), x.size(1), x.size(2), x.size(3),
                                                                 y.size(1), y.size(2), y.size(3), pad, y.numel());
  check_launch("shortcut_a_forward");
}

void shortcut_a_backward(const Tensor& dy, int64_t pad, Tensor& dx) {
  shortcut_a_backward_kernel<<<blocks_for(dx.numel()), kThreads>>>(dy.data(), dx.data(), dx.size(1), dx.size(2),
                                                                   dx.size(3), dy.size(1), dy.size(2), dy.size(3),
                                                                   pad, dx.numel());
  check_launch("shortcut_a_backward");
}

bool all_finite(const Tensor& x) {
  if (x.numel() == 0) return true;
  Tensor flag = scratch(1);
  check(cudaMemset(flag.data(), 0, sizeof(int)), "cudaMemset");
  int* bad = reinterpret_cast<int*>(flag.data());
  all_finite_kernel<<<blocks_for(x.numel()), kThreads>>>(x.data(), x.numel(), bad);
  check_launch("all_finite");
  int host = 0;
  check(cudaMemcpy(&host, bad, sizeof(int), cudaMemcpyDeviceToHost), "cudaMemcpy (all_finite)");
  return host == 0;
}

}  // namespace actlab::cuda
