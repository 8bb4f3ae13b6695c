// PWLU's fused CUDA kernels and batch statistics, twins of pwlu.cpp. The
// backward runs one block per (sample, channel) plane, each thread keeping its
// n + 5 gradient sums in shared memory; a second kernel adds the planes' sums
// per parameter in a fixed order, so the result is deterministic.
#include "activations/cuda_twins.h"
#include "activations/pwlu_math.h"
#include "core/cuda/cuda_common.h"

namespace actlab::cuda {
namespace {

struct Params {
  const float *points, *left, *right, *slope_left, *slope_right;
  int n;
  bool layer;
  __device__ pwlu::Channel channel(int64_t c) const {
    const int64_t p = layer ? 0 : c;
    return {points + p * (n + 1), left[p], right[p], slope_left[p], slope_right[p], n};
  }
};

__global__ void pwlu_forward_kernel(Params params, const float* x, float* y, int64_t planes, int64_t C, int64_t HW,
                                    bool quads) {
  ACTLAB_PLANES(plane, planes) {
    const pwlu::Channel p = params.channel(plane % C);
    map_plane(x + plane * HW, y + plane * HW, HW, quads, [&p](int64_t, float xi) { return pwlu::value(p, xi); });
  }
}

__global__ void pwlu_backward_kernel(Params params, const float* x, const float* dy, float* dx, float* partial,
                                     int64_t C, int64_t HW, bool quads) {
  extern __shared__ float sums[];   // [n + 5][blockDim.x]
  const int64_t plane = blockIdx.x;
  const int stride = params.n + 5;
  for (int j = 0; j < stride; ++j) sums[j * blockDim.x + threadIdx.x] = 0.0f;
  const pwlu::Channel p = params.channel(plane % C);
  float* mine = sums + threadIdx.x;
  const unsigned step = blockDim.x;
  const int n = params.n;
  map_plane_block(x + plane * HW, dy + plane * HW, dx + plane * HW, HW, quads, [&](int64_t, float xi, float g) {
    const pwlu::Slopes s = pwlu::slopes(p, xi);
    mine[s.i * step] += g * s.w_i;
    mine[(s.i + 1) * step] += g * s.w_i1;
    mine[(n + 1) * step] += g * s.left;
    mine[(n + 2) * step] += g * s.right;
    mine[(n + 3) * step] += g * s.slope_left;
    mine[(n + 4) * step] += g * s.slope_right;
    return g * s.x;
  });
  __syncthreads();
  for (int width = blockDim.x / 2; width > 0; width /= 2) {
    if (threadIdx.x < width)
      for (int j = 0; j < stride; ++j) sums[j * blockDim.x + threadIdx.x] += sums[j * blockDim.x + threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0)
    for (int j = 0; j < stride; ++j) partial[plane * stride + j] = sums[j * blockDim.x];
}

// One warp per (parameter row p, entry j): the lanes take p's planes lane,
// lane + 32, ... and the warp adds them in a fixed tree.
__global__ void pwlu_reduce_kernel(const float* partial, int n, bool layer, int64_t N, int64_t C, float* dpoints,
                                   float* dleft, float* dright, float* dslope_left, float* dslope_right) {
  const int stride = n + 5;
  const int64_t P = layer ? 1 : C;
  const int64_t rows = layer ? N * C : N;   // planes per parameter row
  ACTLAB_WARPS(t, lane, P * stride) {
    const int64_t p = t / stride, j = t % stride;
    double sum = 0.0;
    for (int64_t r = lane; r < rows; r += 32) sum += partial[(layer ? r : r * C + p) * stride + j];
    sum = warp_sum(sum);
    float* out = j <= n ? (dpoints ? dpoints + p * (n + 1) + j : nullptr)
               : j == n + 1 ? (dleft ? dleft + p : nullptr)
               : j == n + 2 ? (dright ? dright + p : nullptr)
               : j == n + 3 ? (dslope_left ? dslope_left + p : nullptr)
                            : (dslope_right ? dslope_right + p : nullptr);
    if (lane == 0 && out) *out = static_cast<float>(sum);
  }
}

// Batch mean and population std: one block per parameter row (channel, or one
// for mode=layer), sums in double, fixed-order tree.
__global__ void pwlu_statistics_kernel(const float* x, bool layer, int64_t N, int64_t C, int64_t HW, float* mean,
                                       float* std) {
  __shared__ double s1[kThreads], s2[kThreads];
  const int64_t p = blockIdx.x;
  const int64_t per_row = layer ? N * C * HW : N * HW;
  double a = 0.0, b = 0.0;
  for (int64_t j = threadIdx.x; j < per_row; j += blockDim.x) {
    const int64_t i = layer ? j : ((j / HW) * C + p) * HW + j % HW;
    a += x[i];
    b += static_cast<double>(x[i]) * x[i];
  }
  s1[threadIdx.x] = a;
  s2[threadIdx.x] = b;
  __syncthreads();
  for (int width = blockDim.x / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) s1[threadIdx.x] += s1[threadIdx.x + width], s2[threadIdx.x] += s2[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const double mu = s1[0] / static_cast<double>(per_row);
    mean[p] = static_cast<float>(mu);
    std[p] = static_cast<float>(sqrt(fmax(s2[0] / static_cast<double>(per_row) - mu * mu, 0.0)));
  }
}

}  // namespace

void pwlu_forward(const Tensor& x, const float* points, const float* left, const float* right,
                  const float* slope_left, const float* slope_right, int n, bool layer, Tensor& y) {
  const auto [N, C, HW] = planes_of(x);
  const Params params{points, left, right, slope_left, slope_right, n, layer};
  const bool quads = quad_planes(HW, {x.data(), y.data()});
  const PlaneGrid g = plane_grid(N * C, HW, quads);
  pwlu_forward_kernel<<<g.blocks, g.threads>>>(params, x.data(), y.data(), N * C, C, HW, quads);
  check_launch("pwlu_forward");
}

void pwlu_backward(const Tensor& x, const Tensor& dy, const float* points, const float* left, const float* right,
                   const float* slope_left, const float* slope_right, int n, bool layer, Tensor& dx, float* dpoints,
                   float* dleft, float* dright, float* dslope_left, float* dslope_right) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.numel() / (N * C);
  const int stride = n + 5;
  const bool quads = quad_planes(HW, {x.data(), dy.data(), dx.data()});
  const int64_t units = quads ? HW / 4 : HW;
  // Threads per block: a power of two whose sums fit in 32 KB of shared memory.
  int threads = kThreads;
  while (threads > 32 && (threads > units * 2 || static_cast<size_t>(threads) * stride * sizeof(float) > 32768))
    threads /= 2;
  const Params params{points, left, right, slope_left, slope_right, n, layer};
  Tensor partial = scratch(N * C * stride);
  pwlu_backward_kernel<<<static_cast<unsigned>(N * C), threads, static_cast<size_t>(threads) * stride * sizeof(float)>>>(
      params, x.data(), dy.data(), dx.data(), partial.data(), C, HW, quads);
  check_launch("pwlu_backward");
  const int64_t P = layer ? 1 : C;
  pwlu_reduce_kernel<<<blocks_for_warps(P * stride), kThreads>>>(partial.data(), n, layer, N, C, dpoints, dleft, dright,
                                                           dslope_left, dslope_right);
  check_launch("pwlu_reduce");
}

void pwlu_statistics(const Tensor& x, bool layer, Tensor& mean, Tensor& std) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.numel() / (N * C);
  pwlu_statistics_kernel<<<static_cast<unsigned>(layer ? 1 : C), kThreads>>>(x.data(), layer, N, C, HW, mean.data(),
                                                                             std.data());
  check_launch("pwlu_statistics");
}

}  // namespace actlab::cuda
