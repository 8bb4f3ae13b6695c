// The ACON family's fused CPU kernels and composed references (see acon.h).
// Forward: one pass, (sample, channel) planes in parallel. Backward: one pass
// computing dx and the parameter gradients together, planes in parallel;
// every sum in a fixed order, so the result does not depend on the thread
// count.
#include "activations/acon.h"

#include <algorithm>
#include <cmath>

#include "activations/channel_math.h"
#include "activations/cuda_twins.h"
#include "autograd/ops.h"
#include "core/cpu/lane_sums.h"
#include "core/cpu/vector_math.h"
#include "core/error.h"

namespace actlab {
namespace {

// Per-channel A, B, β as pointers into the operands (null: A = 1, B = 0).
struct AconOperands {
  const float *a = nullptr, *b = nullptr, *beta = nullptr;
  int a_index = -1, b_index = -1, beta_index = -1;
};

AconOperands operands_of(AconKind kind, bool beta_from_input, const std::vector<Tensor>& ops) {
  AconOperands o;
  switch (kind) {
    case AconKind::swish:
    case AconKind::acon_a: o.beta_index = 0; break;
    case AconKind::acon_b: o.b_index = 0, o.beta_index = 1; break;
    case AconKind::acon_c:
    case AconKind::meta_acon: o.a_index = 0, o.b_index = 1, o.beta_index = beta_from_input ? -1 : 2; break;
  }
  if (o.a_index >= 0) o.a = ops[o.a_index].data();
  if (o.b_index >= 0) o.b = ops[o.b_index].data();
  if (o.beta_index >= 0) o.beta = ops[o.beta_index].data();
  return o;
}

BetaMode mode_of(const Tensor& x, const AconOperands& o, const std::vector<Tensor>& ops) {
  return o.beta_index < 0 ? BetaMode::input : beta_mode(x, ops[o.beta_index]);
}

float* wanted(std::vector<Tensor>& grads, int index) {
  return index >= 0 && grads[index].defined() ? grads[index].data() : nullptr;
}

// Backward when A, B and β are all per channel (Swish, ACON-A/B/C): planes in
// memory order (a stream the prefetcher follows), each plane's sums kept in
// 16 register lanes and added across them in a fixed tree (a horizontal
// reduction per chunk costs as much as the arithmetic on 8×8 planes), then
// per channel the planes' sums added in double in sample order: bit-identical
// for any thread count. kAB: a or b receives a gradient (ACON-B, ACON-C);
// without (Swish, ACON-A, or frozen a and b) only β's sums are kept.
// With B = 0 (Swish, ACON-A) and y given, σ(β·x) = y/x is read from the
// saved output instead of a second exp (|x| < 1e-30 takes σ(0) = 1/2); the
// output is kept anyway as the next layer's input.
constexpr int kLanes = cpu::kSumLanes;
using cpu::tree_sum;

template <bool kAB>
void backward_per_channel_sums(const AconOperands& o, const float* x, const float* y, const float* g, float* dx,
                               float* da, float* db, float* dbeta, int64_t N, int64_t C, int64_t HW) {
  constexpr int kSums = kAB ? 3 : 1;   // β, then a and b
  thread_local std::vector<float> buffer;   // the calling thread's, reused; workers write through the pointer
  buffer.resize(N * C * kSums);
  float* plane_sums = buffer.data();
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < N * C; ++plane) {
    const int64_t c = plane % C;
    const float a = o.a ? o.a[c] : 1.0f, b = o.b ? o.b[c] : 0.0f, beta = o.beta[c];
    // Per-lane sums in registers over the plane, then a tree across the lanes.
    float lane_beta[kLanes] = {}, lane_a[kLanes] = {}, lane_b[kLanes] = {};
    float e[cpu::kChunk];
    for (int64_t begin = plane * HW, end = begin + HW; begin < end; begin += cpu::kChunk) {
      const int64_t m = std::min(cpu::kChunk, end - begin);
      const float* xp = x + begin;
      const float* gp = g + begin;
      float* dp = dx + begin;
      const auto accumulate = [&](int64_t i, int l) {
        const float d = (a - b) * xp[i];
        const float s = e[i];   // σ(β·d)
        const float ds = s * (1.0f - s);
        const float inner = s + beta * d * ds;
        dp[i] = gp[i] * ((a - b) * inner + b);
        lane_beta[l] += gp[i] * d * d * ds;
        if constexpr (kAB) {
          lane_a[l] += gp[i] * xp[i] * inner;
          lane_b[l] += gp[i] * (xp[i] - xp[i] * inner);
        }
      };
      if (y) {
        const float* yp = y + begin;
#pragma omp simd
        for (int64_t i = 0; i < m; ++i) e[i] = std::fabs(xp[i]) < 1e-30f ? 0.5f : yp[i] / xp[i];
      } else {
#pragma omp simd
        for (int64_t i = 0; i < m; ++i) e[i] = -beta * (a - b) * xp[i];
        cpu::vexp(e, e, m);
#pragma omp simd
        for (int64_t i = 0; i < m; ++i) e[i] = 1.0f / (1.0f + e[i]);
      }
      for (int64_t i0 = 0; i0 < m; i0 += kLanes) {
        const int64_t width = std::min<int64_t>(kLanes, m - i0);
        if (width == kLanes) {
#pragma omp simd
          for (int l = 0; l < kLanes; ++l) accumulate(i0 + l, l);
        } else {
          for (int l = 0; l < width; ++l) accumulate(i0 + l, l);
        }
      }
    }
    plane_sums[plane * kSums] = tree_sum(lane_beta);
    if constexpr (kAB) {
      plane_sums[plane * kSums + 1] = tree_sum(lane_a);
      plane_sums[plane * kSums + 2] = tree_sum(lane_b);
    }
  }
  for (int64_t c = 0; c < C; ++c) {
    double total[kSums] = {};
    for (int64_t n = 0; n < N; ++n)
      for (int k = 0; k < kSums; ++k) total[k] += plane_sums[(n * C + c) * kSums + k];
    if (dbeta) dbeta[c] = static_cast<float>(total[0]);
    if constexpr (kAB) {
      if (da) da[c] = static_cast<float>(total[1]);
      if (db) db[c] = static_cast<float>(total[2]);
    }
  }
}

void backward_per_channel(const AconOperands& o, const float* x, const float* y, const float* g, float* dx,
                          float* da, float* db, float* dbeta, int64_t N, int64_t C, int64_t HW) {
  if (da || db) return backward_per_channel_sums<true>(o, x, y, g, dx, da, db, dbeta, N, C, HW);
  backward_per_channel_sums<false>(o, x, y, g, dx, da, db, dbeta, N, C, HW);
}

}  // namespace

BetaMode beta_mode(const Tensor& x, const Tensor& beta) {
  const Shape& s = beta.shape();
  check(s.size() == 4 && s[2] == 1 && s[3] == 1, "acon: β of shape " + to_string(s) + " for input " +
                                                     to_string(x.shape()));
  if (s[0] == 1 && s[1] == x.size(1)) return BetaMode::channel;
  if (s[0] == x.size(0) && s[1] == x.size(1)) return BetaMode::sample_channel;
  check(s[0] == x.size(0) && s[1] == 1, "acon: β of shape " + to_string(s) + " for input " + to_string(x.shape()));
  return BetaMode::sample;
}

Acon::Acon(Spec& spec, AconKind kind, int64_t channels, Random& rng) : Activation(spec.text()), kind_(kind) {
  const Shape shape{1, channels, 1, 1};
  switch (kind) {
    case AconKind::swish:
      add_parameter("beta", Tensor::full(shape, spec.get_float("beta", 1.0f)), Role::act);
      break;
    case AconKind::acon_a:
      add_parameter("beta", Tensor::full(shape, 1.0f), Role::act);
      break;
    case AconKind::acon_b:
      add_parameter("p", Tensor::full(shape, 0.25f), Role::act);
      add_parameter("beta", Tensor::full(shape, 1.0f), Role::act);
      break;
    case AconKind::acon_c: {
      const std::string init = spec.get_string("init", "randn");
      if (init != "randn" && init != "swish") spec.reject("init", "expected randn or swish");
      Tensor p1 = Tensor::full(shape, 1.0f), p2 = Tensor::zeros(shape);
      if (init == "randn") {   // the official code's torch.randn
        for (int64_t c = 0; c < channels; ++c) p1.data()[c] = rng.normal();
        for (int64_t c = 0; c < channels; ++c) p2.data()[c] = rng.normal();
      }
      add_parameter("p1", p1, Role::act);
      add_parameter("p2", p2, Role::act);
      add_parameter("beta", Tensor::full(shape, 1.0f), Role::act);
      break;
    }
    case AconKind::meta_acon: {   // β comes from the generator (meta_acon.cpp), which also finishes the spec
      Tensor p1 = Tensor::empty(shape), p2 = Tensor::empty(shape);
      for (int64_t c = 0; c < channels; ++c) p1.data()[c] = rng.normal();
      for (int64_t c = 0; c < channels; ++c) p2.data()[c] = rng.normal();
      add_parameter("p1", p1, Role::act);
      add_parameter("p2", p2, Role::act);
      return;
    }
  }
  spec.finish();
}

void Acon::forward_kernel(const Tensor& x, const std::vector<Tensor>& ops, Tensor& y) const {
  const AconOperands o = operands_of(kind_, beta_from_input_, ops);
  const BetaMode mode = mode_of(x, o, ops);
#ifdef ACTLAB_HAVE_CUDA
  if (x.device() == Device::cuda) return cuda::acon_forward(x, o.a, o.b, o.beta, mode, y);
#endif
  const Planes planes = planes_of(x);
  const int64_t N = planes.N, C = planes.C, HW = planes.HW;
  const float* in = x.data();
  float* out = y.data();
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < N * C; ++plane) {
    const int64_t n = plane / C, c = plane % C;
    const float a = o.a ? o.a[c] : 1.0f, b = o.b ? o.b[c] : 0.0f;
    float e[cpu::kChunk];
    for (int64_t begin = plane * HW, end = begin + HW; begin < end; begin += cpu::kChunk) {
      const int64_t m = std::min(cpu::kChunk, end - begin);
      const float* xp = in + begin;
      float* yp = out + begin;
      if (mode == BetaMode::input) {
        cpu::vsigmoid(xp, e, m);   // β = σ(x)
#pragma omp simd
        for (int64_t i = 0; i < m; ++i) e[i] = -e[i] * (a - b) * xp[i];
      } else {
        const float beta = o.beta[beta_index(mode, n, c, C)];
#pragma omp simd
        for (int64_t i = 0; i < m; ++i) e[i] = -beta * (a - b) * xp[i];
      }
      cpu::vexp(e, e, m);   // e = exp(−β·d), σ(β·d) = 1/(1 + e)
#pragma omp simd
      for (int64_t i = 0; i < m; ++i) yp[i] = (a - b) * xp[i] / (1.0f + e[i]) + b * xp[i];
    }
  }
}

void Acon::backward_kernel(const Tensor& x, const Tensor& y, const Tensor& dy, const std::vector<Tensor>& ops, Tensor& dx,
                           std::vector<Tensor>& dops) const {
  const AconOperands o = operands_of(kind_, beta_from_input_, ops);
  const BetaMode mode = mode_of(x, o, ops);
  float* da = wanted(dops, o.a_index);
  float* db = wanted(dops, o.b_index);
  float* dbeta = wanted(dops, o.beta_index);
#ifdef ACTLAB_HAVE_CUDA
  if (x.device() == Device::cuda) return cuda::acon_backward(x, dy, o.a, o.b, o.beta, mode, dx, da, db, dbeta);
#endif
  const Planes planes = planes_of(x);
  const int64_t N = planes.N, C = planes.C, HW = planes.HW;
  const float* in = x.data();
  const float* g = dy.data();
  float* out = dx.data();
  if (mode == BetaMode::channel)
    return backward_per_channel(o, in, saves() == Saves::both ? y.data() : nullptr, g, out, da, db, dbeta, N, C, HW);
  // Meta-ACON's β, per sample or σ(x) per element: sums per (sample, channel)
  // plane, then across planes in a fixed order. (The calling thread's buffer,
  // reused from step to step; workers write through the pointer.)
  const bool pixel = mode == BetaMode::input;
  thread_local std::vector<double> buffer;
  buffer.assign(N * C * 3, 0.0);
  double* partial = buffer.data();
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < N * C; ++plane) {
    const int64_t n = plane / C, c = plane % C;
    const float a = o.a ? o.a[c] : 1.0f, b = o.b ? o.b[c] : 0.0f;
    const float beta_plane = pixel ? 0.0f : o.beta[beta_index(mode, n, c, C)];
    double sum_a = 0.0, sum_b = 0.0, sum_beta = 0.0;
    float e[cpu::kChunk], beta[cpu::kChunk];
    for (int64_t begin = plane * HW, end = begin + HW; begin < end; begin += cpu::kChunk) {
      const int64_t m = std::min(cpu::kChunk, end - begin);
      const float* xp = in + begin;
      const float* gp = g + begin;
      float* dp = out + begin;
      if (pixel)
        cpu::vsigmoid(xp, beta, m);
      else
        std::fill_n(beta, m, beta_plane);
#pragma omp simd
      for (int64_t i = 0; i < m; ++i) e[i] = -beta[i] * (a - b) * xp[i];
      cpu::vexp(e, e, m);
      // s = σ(β·d), inner = s + β·d·s(1 − s): SPEC 1.4's derivatives. In the
      // pixel space x also reaches y through β = σ(x): ∂L/∂β · β(1 − β) more.
      // Sums in float within a chunk, in double across chunks.
      float chunk_a = 0.0f, chunk_b = 0.0f, chunk_beta = 0.0f;
#pragma omp simd reduction(+ : chunk_a, chunk_b, chunk_beta)
      for (int64_t i = 0; i < m; ++i) {
        const float d = (a - b) * xp[i];
        const float s = 1.0f / (1.0f + e[i]);
        const float ds = s * (1.0f - s);
        const float inner = s + beta[i] * d * ds;
        const float g_beta = gp[i] * d * d * ds;   // this element's ∂L/∂β
        dp[i] = gp[i] * ((a - b) * inner + b) + (pixel ? g_beta * beta[i] * (1.0f - beta[i]) : 0.0f);
        chunk_a += gp[i] * xp[i] * inner;
        chunk_b += gp[i] * (xp[i] - xp[i] * inner);
        chunk_beta += g_beta;
      }
      sum_a += chunk_a;
      sum_b += chunk_b;
      sum_beta += chunk_beta;
    }
    partial[plane * 3 + 0] = sum_a;
    partial[plane * 3 + 1] = sum_b;
    partial[plane * 3 + 2] = sum_beta;
  }
  for (int64_t c = 0; c < C; ++c) {
    double sum_a = 0.0, sum_b = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      sum_a += partial[(n * C + c) * 3 + 0];
      sum_b += partial[(n * C + c) * 3 + 1];
    }
    if (da) da[c] = static_cast<float>(sum_a);
    if (db) db[c] = static_cast<float>(sum_b);
  }
  if (dbeta && mode == BetaMode::sample_channel)
    for (int64_t k = 0; k < N * C; ++k) dbeta[k] = static_cast<float>(partial[k * 3 + 2]);
  if (dbeta && mode == BetaMode::sample) {
    for (int64_t n = 0; n < N; ++n) {
      double sum = 0.0;
      for (int64_t c = 0; c < C; ++c) sum += partial[(n * C + c) * 3 + 2];
      dbeta[n] = static_cast<float>(sum);
    }
  }
}

// From tape primitives: d = (A − B)·x; y = d·σ(β·d) + B·x.
Var Acon::composed(const Var& x) {
  using namespace ops;
  const auto& p = own_parameters();
  switch (kind_) {
    case AconKind::swish:
    case AconKind::acon_a: return mul(x, sigmoid(mul(p[0].second.var, x)));
    case AconKind::acon_b: {
      const Var& pb = p[0].second.var;
      const Var d = mul(affine(pb, -1.0f, 1.0f), x);
      return add(mul(d, sigmoid(mul(p[1].second.var, d))), mul(pb, x));
    }
    case AconKind::acon_c: {
      const Var d = mul(sub(p[0].second.var, p[1].second.var), x);
      return add(mul(d, sigmoid(mul(p[2].second.var, d))), mul(p[1].second.var, x));
    }
    case AconKind::meta_acon: break;   // MetaAcon::composed
  }
  fail("acon: unknown kind");
}

}  // namespace actlab
