// The ACON family's fused CUDA kernels, twins of acon.cpp. Forward: a grid
// over (plane, pixels). Backward: one block per (sample, channel) plane writes
// dx and its plane's three gradient sums (a fixed-order tree); a second kernel
// adds the planes' sums over samples in a fixed order: the result is deterministic.
#include "activations/channel_math.h"
#include "activations/cuda_twins.h"
#include "core/cuda/cuda_common.h"

namespace actlab::cuda {
namespace {

__global__ void acon_forward_kernel(const float* x, const float* a, const float* b, const float* beta, BetaMode mode,
                                    float* y, int64_t planes, int64_t C, int64_t HW, bool quads) {
  ACTLAB_PLANES(plane, planes) {
    const int64_t c = plane % C;
    const float ac = a ? a[c] : 1.0f, bc = b ? b[c] : 0.0f;
    const bool pixel = mode == BetaMode::input;
    const float beta_plane = pixel ? 0.0f : beta[beta_index(mode, plane / C, c, C)];
    map_plane(x + plane * HW, y + plane * HW, HW, quads, [=](int64_t, float xi) {
      return pixel ? channel::acon_pixel_value(xi, ac, bc) : channel::acon_value(xi, ac, bc, beta_plane);
    });
  }
}

__global__ void acon_backward_kernel(const float* x, const float* dy, const float* a, const float* b,
                                     const float* beta, BetaMode mode, float* dx, float* partial, int64_t C,
                                     int64_t HW, bool quads) {
  const int64_t plane = blockIdx.x, c = plane % C;
  const float ac = a ? a[c] : 1.0f, bc = b ? b[c] : 0.0f;
  const bool pixel = mode == BetaMode::input;
  const float beta_plane = pixel ? 0.0f : beta[beta_index(mode, plane / C, c, C)];
  float sum_a = 0.0f, sum_b = 0.0f, sum_beta = 0.0f;
  map_plane_block(x + plane * HW, dy + plane * HW, dx + plane * HW, HW, quads, [&](int64_t, float xi, float gi) {
    const channel::AconSlopes s =
        pixel ? channel::acon_pixel_slopes(xi, ac, bc) : channel::acon_slopes(xi, ac, bc, beta_plane);
    sum_a += gi * s.a;
    sum_b += gi * (xi - s.a);
    sum_beta += gi * s.beta;
    return gi * s.x;
  });
  sum_a = block_sum(sum_a);
  sum_b = block_sum(sum_b);
  sum_beta = block_sum(sum_beta);
  if (threadIdx.x == 0) {
    partial[plane * 3 + 0] = sum_a;
    partial[plane * 3 + 1] = sum_b;
    partial[plane * 3 + 2] = sum_beta;
  }
}

// Per channel, one warp: a and b sums over samples; β's by its sharing. The
// lanes take samples lane, lane + 32, ...; the warp adds them in a fixed tree.
__global__ void acon_reduce_kernel(const float* partial, BetaMode mode, int64_t N, int64_t C, float* da, float* db,
                                   float* dbeta) {
  ACTLAB_WARPS(c, lane, C) {
    double sa = 0.0, sb = 0.0, sbeta = 0.0;
    for (int64_t n = lane; n < N; n += 32) {
      const float* p = partial + (n * C + c) * 3;
      sa += p[0];
      sb += p[1];
      sbeta += p[2];
      if (dbeta && mode == BetaMode::sample_channel) dbeta[n * C + c] = p[2];
    }
    sa = warp_sum(sa);
    sb = warp_sum(sb);
    sbeta = warp_sum(sbeta);
    if (lane == 0) {
      if (da) da[c] = static_cast<float>(sa);
      if (db) db[c] = static_cast<float>(sb);
      if (dbeta && mode == BetaMode::channel) dbeta[c] = static_cast<float>(sbeta);
    }
  }
}

// β shared per sample: one warp per sample adds its channels.
__global__ void acon_reduce_samples_kernel(const float* partial, int64_t N, int64_t C, float* dbeta) {
  ACTLAB_WARPS(n, lane, N) {
    double sum = 0.0;
    for (int64_t c = lane; c < C; c += 32) sum += partial[(n * C + c) * 3 + 2];
    sum = warp_sum(sum);
    if (lane == 0) dbeta[n] = static_cast<float>(sum);
  }
}

}  // namespace

void acon_forward(const Tensor& x, const float* a, const float* b, const float* beta, BetaMode mode, Tensor& y) {
  const auto [N, C, HW] = planes_of(x);
  const bool quads = quad_planes(HW, {x.data(), y.data()});
  const PlaneGrid g = plane_grid(N * C, HW, quads);
  acon_forward_kernel<<<g.blocks, g.threads>>>(x.data(), a, b, beta, mode, y.data(), N * C, C, HW, quads);
  check_launch("acon_forward");
}

void acon_backward(const Tensor& x, const Tensor& dy, const float* a, const float* b, const float* beta, BetaMode mode,
                   Tensor& dx, float* da, float* db, float* dbeta) {
  const auto [N, C, HW] = planes_of(x);
  Tensor partial = scratch(N * C * 3);
  const bool quads = quad_planes(HW, {x.data(), dy.data(), dx.data()});
  const unsigned threads = threads_for_plane(quads ? HW / 4 : HW);
  acon_backward_kernel<<<static_cast<unsigned>(N * C), threads>>>(
      x.data(), dy.data(), a, b, beta, mode, dx.data(), partial.data(), C, HW, quads);
  check_launch("acon_backward");
  acon_reduce_kernel<<<blocks_for_warps(C), kThreads>>>(partial.data(), mode, N, C, da, db, dbeta);
  check_launch("acon_reduce");
  if (dbeta && mode == BetaMode::sample) {
    acon_reduce_samples_kernel<<<blocks_for_warps(N), kThreads>>>(partial.data(), N, C, dbeta);
    check_launch("acon_reduce_samples");
  }
}

}  // namespace actlab::cuda
