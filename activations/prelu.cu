// PReLU's fused CUDA kernels, twins of prelu.cpp. The backward writes dx and
// one weight-gradient sum per (sample, channel) plane; a second kernel adds
// the planes per channel in a fixed order, so the result is deterministic.
#include "activations/channel_math.h"
#include "activations/cuda_twins.h"
#include "core/cuda/cuda_common.h"

namespace actlab::cuda {
namespace {

__global__ void prelu_forward_kernel(const float* x, const float* w, float* y, int64_t planes, int64_t C, int64_t HW,
                                     bool quads) {
  ACTLAB_PLANES(plane, planes) {
    const float wc = w[plane % C];
    map_plane(x + plane * HW, y + plane * HW, HW, quads,
              [wc](int64_t, float xi) { return channel::prelu_value(xi, wc); });
  }
}

// One block per (sample, channel) plane: dx, and the plane's weight-gradient
// sum by a fixed-order tree.
__global__ void prelu_backward_kernel(const float* x, const float* dy, const float* w, float* dx, float* partial,
                                      int64_t C, int64_t HW, bool quads) {
  const int64_t plane = blockIdx.x;
  const float wc = w[plane % C];
  float sum = 0.0f;
  map_plane_block(x + plane * HW, dy + plane * HW, dx + plane * HW, HW, quads, [&](int64_t, float xi, float gi) {
    if (xi > 0.0f) return gi;
    sum += xi * gi;
    return wc * gi;
  });
  sum = block_sum(sum);
  if (threadIdx.x == 0 && partial) partial[plane] = sum;
}

// Per channel, one warp adds the planes' sums over samples in a fixed order.
__global__ void prelu_reduce_kernel(const float* partial, int64_t N, int64_t C, float* dw) {
  ACTLAB_WARPS(c, lane, C) {
    double sum = 0.0;
    for (int64_t n = lane; n < N; n += 32) sum += partial[n * C + c];
    sum = warp_sum(sum);
    if (lane == 0) dw[c] = static_cast<float>(sum);
  }
}

}  // namespace

void prelu_forward(const Tensor& x, const float* w, Tensor& y) {
  const auto [N, C, HW] = planes_of(x);
  const bool quads = quad_planes(HW, {x.data(), y.data()});
  const PlaneGrid g = plane_grid(N * C, HW, quads);
  prelu_forward_kernel<<<g.blocks, g.threads>>>(x.data(), w, y.data(), N * C, C, HW, quads);
  check_launch("prelu_forward");
}

void prelu_backward(const Tensor& x, const Tensor& dy, const float* w, Tensor& dx, float* dw) {
  const auto [N, C, HW] = planes_of(x);
  Tensor partial = dw ? scratch(N * C) : Tensor();
  const bool quads = quad_planes(HW, {x.data(), dy.data(), dx.data()});
  const unsigned threads = threads_for_plane(quads ? HW / 4 : HW);
  prelu_backward_kernel<<<static_cast<unsigned>(N * C), threads>>>(x.data(), dy.data(), w, dx.data(),
                                                                    dw ? partial.data() : nullptr, C, HW, quads);
  check_launch("prelu_backward");
  if (dw) {
    prelu_reduce_kernel<<<blocks_for_warps(C), kThreads>>>(partial.data(), N, C, dw);
    check_launch("prelu_reduce");
  }
}

}  // namespace actlab::cuda
