// DyReLU's fused CUDA kernels, twins of dyrelu.cpp.
//   - dyrelu-c's spatial attention: one block per sample computes z = the 1×1
//     conv, its softmax over the pixels and the unclamped q = e / (3·mean e)
//     (π = min(q, 1)); in the backward the same block also forms ∂L/∂π over
//     the channels in order and turns it into ∂L/∂z (softmax backward, two
//     fixed-order block sums).
//   - Forward: a grid over (plane, pixels).
//   - Backward: one block per (sample, channel) plane writes dx (plus the
//     attention's w_c·∂L/∂z) and its plane's 2K coefficient sums (fixed-order
//     tree) and, for dyrelu-c, Σ x·∂L/∂z for the conv weight; dyrelu-a's
//     shared coefficients are then summed over channels and the conv's
//     gradients over samples, in order.
#include "activations/cuda_twins.h"
#include "activations/dyrelu_math.h"
#include "core/cuda/cuda_common.h"

namespace actlab::cuda {
namespace {

// One block per sample: q[n, h] (and, with kBackward, dz[n, h] = ∂L/∂z and
// the sample's Σ_h dz in dbias_partial[n]). q and dz double as the block's
// scratch for t = z/τ, e and ∂L/∂π; each thread only rereads its own pixels.
template <bool kBackward>
__global__ void attention_kernel(const float* x, DyReluAttention att, int64_t C, int64_t HW, float* q,
                                 const float* dy, const float* coefs, int K, float* dz, float* dbias_partial) {
  const int64_t n = blockIdx.x;
  const float* xs = x + n * C * HW;
  const float* gs = kBackward ? dy + n * C * HW : nullptr;
  float* qs = q + n * HW;
  float* ds = kBackward ? dz + n * HW : nullptr;
  const float bias = att.bias[0];
  float peak = -INFINITY;
  for (int64_t h = threadIdx.x; h < HW; h += blockDim.x) {
    float z = 0.0f, dpi = 0.0f;
    for (int64_t c = 0; c < C; ++c) {
      const float xi = xs[c * HW + h];
      z += att.weight[c] * xi;
      if constexpr (kBackward) {
        float v;
        dyrelu::winner(coefs + (n * C + c) * 2 * K, K, xi, v);
        dpi += gs[c * HW + h] * v;
      }
    }
    const float t = (z + bias) * att.inv_tau;
    qs[h] = t;
    if constexpr (kBackward) ds[h] = dpi;
    peak = fmaxf(peak, t);
  }
  peak = block_all(peak, Larger{}, -INFINITY);
  float sum = 0.0f;
  for (int64_t h = threadIdx.x; h < HW; h += blockDim.x) {
    const float e = expf(qs[h] - peak);
    qs[h] = e;
    sum += e;
  }
  const float denom = 3.0f * (block_all(sum) / static_cast<float>(HW));
  float total = 0.0f;   // Σ_h ∂L/∂q_h·q_h over the unclamped pixels
  for (int64_t h = threadIdx.x; h < HW; h += blockDim.x) {
    const float qh = qs[h] / denom;
    qs[h] = qh;
    if constexpr (kBackward) {
      const float a = qh <= 1.0f ? ds[h] * qh : 0.0f;   // min(q, 1) passes the gradient to q on ties
      ds[h] = a;
      total += a;
    }
  }
  if constexpr (kBackward) {
    // ∂L/∂t_h = a_h − q_h·(3/HW)·Σ a, ∂L/∂z = ∂L/∂t / τ.
    const float shift = 3.0f / static_cast<float>(HW) * block_all(total);
    float dbias = 0.0f;
    for (int64_t h = threadIdx.x; h < HW; h += blockDim.x) {
      const float d = (ds[h] - qs[h] * shift) * att.inv_tau;
      ds[h] = d;
      dbias += d;
    }
    dbias = block_sum(dbias);
    if (threadIdx.x == 0) dbias_partial[n] = dbias;
  }
}

unsigned threads_for_sample(int64_t HW) {
  return static_cast<unsigned>(std::min<int64_t>(1024, (HW + 31) / 32 * 32));
}

__global__ void dyrelu_forward_kernel(const float* x, const float* coefs, bool shared, int K, const float* q,
                                      float* y, int64_t planes, int64_t C, int64_t HW, bool quads) {
  ACTLAB_PLANES(plane, planes) {
    const int64_t b = plane / C;
    const float* coef = coefs + (shared ? b : plane) * 2 * K;
    const float* qs = q ? q + b * HW : nullptr;
    map_plane(x + plane * HW, y + plane * HW, HW, quads, [=](int64_t h, float xi) {
      float v;
      dyrelu::winner(coef, K, xi, v);
      return qs ? fminf(qs[h], 1.0f) * v : v;
    });
  }
}

// Dynamic shared memory: 2K sums per thread. With the attention (q non-null):
// dy is scaled by π = min(q, 1), dx gains w_c·dz and the plane's Σ x·dz goes
// to weight_partial.
__global__ void dyrelu_backward_kernel(const float* x, const float* dy, const float* coefs, bool shared, int K,
                                       const float* q, const float* dz, const float* weight, float* dx,
                                       float* partial, float* weight_partial, int64_t C, int64_t HW, bool quads) {
  extern __shared__ float sums[];   // [2K][blockDim.x]
  const int64_t plane = blockIdx.x, b = plane / C;
  const int lines = 2 * K;
  const float* coef = coefs + (shared ? b : plane) * lines;
  const float* qs = q ? q + b * HW : nullptr;
  const float* dzs = q ? dz + b * HW : nullptr;
  const float wc = q ? weight[plane % C] : 0.0f;
  float* mine = sums + threadIdx.x;
  const unsigned step = blockDim.x;
  for (int j = 0; j < lines; ++j) mine[j * step] = 0.0f;
  float weight_sum = 0.0f;
  map_plane_block(x + plane * HW, dy + plane * HW, dx + plane * HW, HW, quads, [&](int64_t h, float xi, float g) {
    const float gi = qs ? g * fminf(qs[h], 1.0f) : g;
    float v;
    const int k = dyrelu::winner(coef, K, xi, v);
    mine[k * step] += gi * xi;
    mine[(K + k) * step] += gi;
    if (!qs) return gi * coef[k];
    weight_sum += xi * dzs[h];
    return gi * coef[k] + wc * dzs[h];
  });
  __syncthreads();
  for (int width = blockDim.x / 2; width > 0; width /= 2) {
    if (threadIdx.x < width)
      for (int j = 0; j < lines; ++j) sums[j * blockDim.x + threadIdx.x] += sums[j * blockDim.x + threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0)
    for (int j = 0; j < lines; ++j) partial[plane * lines + j] = sums[j * blockDim.x];
  if (q) {
    weight_sum = block_sum(weight_sum);
    if (threadIdx.x == 0) weight_partial[plane] = weight_sum;
  }
}

__global__ void dyrelu_shared_reduce_kernel(const float* partial, int lines, int64_t N, int64_t C, float* dcoef) {
  ACTLAB_GRID_STRIDE(t, N * lines) {
    const int64_t b = t / lines, j = t % lines;
    double sum = 0.0;
    for (int64_t c = 0; c < C; ++c) sum += partial[(b * C + c) * lines + j];
    dcoef[t] = static_cast<float>(sum);
  }
}

// The spatial conv's gradients: one warp per weight (channel c < C) or the
// bias (c == C) adds the samples' sums in a fixed tree.
__global__ void attention_reduce_kernel(const float* weight_partial, const float* bias_partial, int64_t N, int64_t C,
                                        float* dweight, float* dbias) {
  ACTLAB_WARPS(c, lane, C + 1) {
    double sum = 0.0;
    for (int64_t n = lane; n < N; n += 32) sum += c < C ? weight_partial[n * C + c] : bias_partial[n];
    sum = warp_sum(sum);
    float* out = c < C ? (dweight ? dweight + c : nullptr) : dbias;
    if (lane == 0 && out) *out = static_cast<float>(sum);
  }
}

}  // namespace

void dyrelu_forward(const Tensor& x, const float* coefs, bool shared, int K, DyReluAttention att, Tensor& y) {
  const auto [N, C, HW] = planes_of(x);
  Tensor q;
  if (att.weight) {
    q = scratch(N * HW);
    attention_kernel<false><<<static_cast<unsigned>(N), threads_for_sample(HW)>>>(x.data(), att, C, HW, q.data(),
                                                                                  nullptr, nullptr, K, nullptr,
                                                                                  nullptr);
    check_launch("dyrelu_attention");
  }
  const bool quads = quad_planes(HW, {x.data(), y.data(), q.defined() ? q.data() : nullptr});
  const PlaneGrid g = plane_grid(N * C, HW, quads);
  dyrelu_forward_kernel<<<g.blocks, g.threads>>>(x.data(), coefs, shared, K, q.defined() ? q.data() : nullptr,
                                                 y.data(), N * C, C, HW, quads);
  check_launch("dyrelu_forward");
}

void dyrelu_backward(const Tensor& x, const Tensor& dy, const float* coefs, bool shared, int K, DyReluAttention att,
                     Tensor& dx, float* dcoef, float* dweight, float* dbias) {
  const auto [N, C, HW] = planes_of(x);
  const int lines = 2 * K;
  Tensor q, dz, weight_partial, bias_partial;
  if (att.weight) {   // the attention again (recomputed, not saved), with ∂L/∂z
    q = scratch(N * HW);
    dz = scratch(N * HW);
    weight_partial = scratch(N * C);
    bias_partial = scratch(N);
    attention_kernel<true><<<static_cast<unsigned>(N), threads_for_sample(HW)>>>(
        x.data(), att, C, HW, q.data(), dy.data(), coefs, K, dz.data(), bias_partial.data());
    check_launch("dyrelu_attention_backward");
  }
  const bool quads = quad_planes(HW, {x.data(), dy.data(), dx.data(), q.defined() ? q.data() : nullptr,
                                      dz.defined() ? dz.data() : nullptr});
  const unsigned threads = threads_for_plane(quads ? HW / 4 : HW);
  // Per-channel coefficients: the planes' sums are the gradient itself.
  Tensor partial = shared || !dcoef ? scratch(N * C * lines) : Tensor();
  float* sums = partial.defined() ? partial.data() : dcoef;
  dyrelu_backward_kernel<<<static_cast<unsigned>(N * C), threads, lines * threads * sizeof(float)>>>(
      x.data(), dy.data(), coefs, shared, K, q.defined() ? q.data() : nullptr, dz.defined() ? dz.data() : nullptr,
      att.weight, dx.data(), sums, weight_partial.defined() ? weight_partial.data() : nullptr, C, HW, quads);
  check_launch("dyrelu_backward");
  if (dcoef && shared) {
    dyrelu_shared_reduce_kernel<<<blocks_for(N * lines), kThreads>>>(sums, lines, N, C, dcoef);
    check_launch("dyrelu_shared_reduce");
  }
  if (att.weight && (dweight || dbias)) {
    attention_reduce_kernel<<<blocks_for_warps(C + 1), kThreads>>>(weight_partial.data(), bias_partial.data(), N, C,
                                                                   dweight, dbias);
    check_launch("dyrelu_attention_reduce");
  }
}

}  // namespace actlab::cuda
