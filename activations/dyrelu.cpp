// DyReLU's hyper function, spatial attention, fused CPU kernels and composed
// reference (see dyrelu.h).
#include "activations/dyrelu.h"

#include <algorithm>
#include <limits>

#include "activations/cuda_twins.h"
#include "activations/dyrelu_math.h"
#include "autograd/ops.h"
#include "core/cpu/lane_sums.h"
#include "core/cpu/vector_math.h"
#include "core/error.h"

namespace actlab {
namespace {

constexpr float kLambdaA = 1.0f, kLambdaB = 0.5f;
constexpr int kMaxLines = 8;


}  // namespace

DyRelu::DyRelu(Spec& spec, DyReluKind kind, int64_t channels, Random& rng) : Activation(spec.text()), kind_(kind) {
  k_ = spec.get_int("k", 2);
  const int r = spec.get_int("r", 4);
  if (kind == DyReluKind::c) tau_ = spec.get_float("tau", 10.0f);
  if (k_ < 1 || k_ > kMaxLines) spec.reject("k", "must be between 1 and " + std::to_string(kMaxLines));
  if (r < 1) spec.reject("r", "must be at least 1");
  if (!(tau_ > 0.0f)) spec.reject("tau", "must be positive");
  spec.finish();
  const int64_t hidden = std::max<int64_t>(1, channels / r);
  const int64_t outputs = 2 * k_ * (kind == DyReluKind::a ? 1 : channels);
  fc1_ = add_module("fc1", std::make_shared<Linear>(channels, hidden, rng));
  fc2_ = add_module("fc2", std::make_shared<Linear>(hidden, outputs, rng));
  if (kind == DyReluKind::c) {
    const Conv2dOptions spatial{channels, 1, 1, 1, 0, 1, true, ConvInit::pytorch_default};
    spatial_ = add_module("spatial", std::make_shared<Conv2d>(spatial, rng));
  }
}

// [N, C or 1, 2K] = (α, β) + (λ_a, λ_b)·(2σ(fc2(relu(fc1(mean_hw x)))) − 1)
Var DyRelu::coefficients(const Var& x) {
  using namespace ops;
  const int64_t N = x.size(0), C = x.size(1), lines = 2 * k_;
  const Var z = (*fc2_)(relu((*fc1_)(reshape(mean_hw(x), {N, C}))));
  const Var delta = reshape(affine(sigmoid(z), 2.0f, -1.0f), {N, kind_ == DyReluKind::a ? 1 : C, lines});
  std::vector<float> lambda(lines, kLambdaB), offset(lines, 0.0f);
  std::fill(lambda.begin(), lambda.begin() + k_, kLambdaA);
  offset[0] = 1.0f;   // α = (1, 0, …, 0), β = 0
  const Tensor l = Tensor::from_vector({1, 1, lines}, lambda).to(x.device());
  const Tensor o = Tensor::from_vector({1, 1, lines}, offset).to(x.device());
  return add(mul(delta, Var(l)), Var(o));
}

// π = min(γ·softmax_hw(z/τ), 1) with γ = HW/3, i.e. min(e / (3·mean_hw e), 1)
// where e = exp(z/τ − max_hw(z/τ)). Softmax ignores a constant shift, so the
// per-sample maximum enters as a constant (no gradient is lost); it keeps
// every exp in (0, 1] and the mean at least 1/HW.
Var DyRelu::attention(const Var& x) {
  using namespace ops;
  const Var t = affine((*spatial_)(x), 1.0f / tau_, 0.0f);
  Tensor peak;
  {
    NoGradScope constant;
    const int64_t H = t.size(2), W = t.size(3);
    if (H == W) {
      peak = max_pool2d(t, static_cast<int>(H), static_cast<int>(H), 0).value();
    } else {
      const std::vector<float> v = t.value().to_vector();
      std::vector<float> m(t.size(0));
      for (int64_t n = 0; n < t.size(0); ++n) m[n] = *std::max_element(v.begin() + n * H * W, v.begin() + (n + 1) * H * W);
      peak = Tensor::from_vector({t.size(0), 1, 1, 1}, m).to(x.device());
    }
  }
  const Var e = exp(sub(t, Var(peak)));
  return minimum(div(e, affine(mean_hw(e), 3.0f, 0.0f)), scalar(1.0f, x.device()));
}

// dyrelu-c's fused node takes the spatial conv's weight and bias and computes
// π itself (forward, and again in the backward instead of saving it).
std::vector<Var> DyRelu::operands(const Var& x) {
  std::vector<Var> out{coefficients(x)};
  if (kind_ == DyReluKind::c) {
    out.push_back(spatial_->parameter("weight").var);
    out.push_back(spatial_->parameter("bias").var);
  }
  return out;
}

namespace {

// π = min(q, 1) as a value, not std::min's reference: with std::min in the
// plane loops GCC did not vectorise them.
inline float clamped(float q) { return q < 1.0f ? q : 1.0f; }

// dyrelu-c's attention, the fused twin of attention()'s tape ops, for one
// sample: on entry qs holds Σ_c w_c·x_c; on return q = e / (3·mean_hw e) with
// e = exp(t − max_hw t), t = (qs + b)/τ, so that π = min(q, 1).
void softmax_attention(float* qs, float bias, float inv_tau, int64_t HW) {
  float peak = -std::numeric_limits<float>::infinity();
  for (int64_t h = 0; h < HW; ++h) {
    qs[h] = (qs[h] + bias) * inv_tau;
    peak = std::max(peak, qs[h]);
  }
  for (int64_t h = 0; h < HW; ++h) qs[h] -= peak;
  cpu::vexp(qs, qs, HW);
  cpu::LaneSums sum;
  sum.add(HW, [qs](int64_t h) { return static_cast<double>(qs[h]); });
  const float denom = 3.0f * static_cast<float>(sum.total() / static_cast<double>(HW));
  for (int64_t h = 0; h < HW; ++h) qs[h] /= denom;
}

// The forward's q for every sample, samples in parallel.
void attention_values(const float* x, const float* w, float bias, float inv_tau, int64_t N, int64_t C, int64_t HW,
                      float* q) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    float* qs = q + n * HW;
    std::fill(qs, qs + HW, 0.0f);
    for (int64_t c = 0; c < C; ++c) {
      const float wc = w[c];
      const float* xc = x + (n * C + c) * HW;
#pragma omp simd
      for (int64_t h = 0; h < HW; ++h) qs[h] += wc * xc[h];
    }
    softmax_attention(qs, bias, inv_tau, HW);
  }
}

// The backward's first pass, samples in parallel: q again (recomputed, not
// saved) and ∂L/∂π = Σ_c dy·max_k(a x + b) (channels in order) from one read
// of x and dy; then, in dz, ∂L/∂z by the softmax backward through the clamp:
// a = [q ≤ 1]·∂L/∂π·q (min passes ties to q), ∂L/∂t = a − q·(3/HW)·Σa,
// ∂L/∂z = ∂L/∂t / τ. Each sample's Σ_h ∂L/∂z (the bias gradient's share) goes
// to bias_partial.
void attention_gradient(const float* x, const float* g, const float* coefs, int K, const float* w, float bias,
                        float inv_tau, int64_t N, int64_t C, int64_t HW, float* q, float* dz, double* bias_partial) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    float* qs = q + n * HW;
    float* ds = dz + n * HW;
    std::fill(qs, qs + HW, 0.0f);
    std::fill(ds, ds + HW, 0.0f);
    for (int64_t c = 0; c < C; ++c) {
      const float wc = w[c];
      const float* coef = coefs + (n * C + c) * 2 * K;
      const float* xc = x + (n * C + c) * HW;
      const float* gc = g + (n * C + c) * HW;
      if (K == 2) {
        const float a1 = coef[0], a2 = coef[1], b1 = coef[2], b2 = coef[3];
#pragma omp simd
        for (int64_t h = 0; h < HW; ++h) {
          const float v1 = a1 * xc[h] + b1, v2 = a2 * xc[h] + b2;
          qs[h] += wc * xc[h];
          ds[h] += gc[h] * (v2 > v1 ? v2 : v1);
        }
      } else {
        for (int64_t h = 0; h < HW; ++h) {
          float v;
          dyrelu::winner(coef, K, xc[h], v);
          qs[h] += wc * xc[h];
          ds[h] += gc[h] * v;
        }
      }
    }
    softmax_attention(qs, bias, inv_tau, HW);
    for (int64_t h = 0; h < HW; ++h) ds[h] = qs[h] <= 1.0f ? ds[h] * qs[h] : 0.0f;
    cpu::LaneSums total;
    total.add(HW, [ds](int64_t h) { return static_cast<double>(ds[h]); });
    const float shift = 3.0f / static_cast<float>(HW) * static_cast<float>(total.total());
    for (int64_t h = 0; h < HW; ++h) ds[h] = (ds[h] - qs[h] * shift) * inv_tau;
    cpu::LaneSums bias_sum;
    bias_sum.add(HW, [ds](int64_t h) { return static_cast<double>(ds[h]); });
    bias_partial[n] = bias_sum.total();
  }
}

// One plane's share of dyrelu-c's attention in the backward's second pass:
// dy is scaled by π = min(q, 1), dx gains w_c·∂L/∂z, and Σ x·∂L/∂z (the conv
// weight's gradient share) goes to *weight_sum.
struct PlaneAttention {
  const float* q;
  const float* dz;
  float wc;
  double* weight_sum;
};

// One plane of the K = 2 backward: dx and the four coefficient sums (float
// within a chunk, double across chunks). Ties go to the first line, as
// winner().
template <bool kAttention>
void two_lines_plane(const float* xp, const float* gp, const float* coef, int64_t HW, float* out, double* acc,
                     const PlaneAttention& att) {
  const float a1 = coef[0], a2 = coef[1], b1 = coef[2], b2 = coef[3];
  const float* q = att.q;
  const float* dz = att.dz;
  const float wc = att.wc;
  for (int64_t begin = 0; begin < HW; begin += cpu::kChunk) {
    const int64_t end = std::min(HW, begin + cpu::kChunk);
    float sa1 = 0.0f, sa2 = 0.0f, sb1 = 0.0f, sb2 = 0.0f, sw = 0.0f;
#pragma omp simd reduction(+ : sa1, sa2, sb1, sb2, sw)
    for (int64_t i = begin; i < end; ++i) {
      const float xi = xp[i];
      const float gi = kAttention ? gp[i] * clamped(q[i]) : gp[i];
      const float v1 = a1 * xi + b1, v2 = a2 * xi + b2;
      const bool second = v2 > v1;
      out[i] = gi * (second ? a2 : a1) + (kAttention ? wc * dz[i] : 0.0f);
      sa1 += second ? 0.0f : gi * xi;
      sa2 += second ? gi * xi : 0.0f;
      sb1 += second ? 0.0f : gi;
      sb2 += second ? gi : 0.0f;
      if constexpr (kAttention) sw += xi * dz[i];
    }
    acc[0] += sa1, acc[1] += sa2, acc[2] += sb1, acc[3] += sb2;
    if constexpr (kAttention) *att.weight_sum += sw;
  }
}

// One plane of the backward for any K (null att: no attention).
void k_lines_plane(const float* xp, const float* gp, const float* coef, int K, int64_t HW, float* out, double* acc,
                   const PlaneAttention* att) {
  for (int64_t i = 0; i < HW; ++i) {
    const float xi = xp[i];
    const float gi = att ? gp[i] * clamped(att->q[i]) : gp[i];
    float v;
    const int k = dyrelu::winner(coef, K, xi, v);
    out[i] = gi * coef[k] + (att ? att->wc * att->dz[i] : 0.0f);
    acc[k] += gi * xi;
    acc[K + k] += gi;
    if (att) *att->weight_sum += static_cast<double>(xi) * att->dz[i];
  }
}

}  // namespace

#ifdef ACTLAB_HAVE_CUDA
cuda::DyReluAttention DyRelu::cuda_attention(const std::vector<Tensor>& ops) const {
  if (kind_ != DyReluKind::c) return {};
  return {ops[1].data(), ops[2].data(), 1.0f / tau_};
}
#endif

void DyRelu::forward_kernel(const Tensor& x, const std::vector<Tensor>& ops, Tensor& y) const {
  const bool shared = kind_ == DyReluKind::a;
#ifdef ACTLAB_HAVE_CUDA
  if (x.device() == Device::cuda) return cuda::dyrelu_forward(x, ops[0].data(), shared, k_, cuda_attention(ops), y);
#endif
  const Planes planes = planes_of(x);
  const int64_t N = planes.N, C = planes.C, HW = planes.HW;
  // dyrelu-c: the attention before its clamp, π = min(q, 1).
  std::vector<float> attention;
  if (kind_ == DyReluKind::c) {
    attention.resize(N * HW);
    attention_values(x.data(), ops[1].data(), ops[2].data()[0], 1.0f / tau_, N, C, HW, attention.data());
  }
  const float* q = attention.empty() ? nullptr : attention.data();
  const int K = k_;
  const float* in = x.data();
  const float* coefs = ops[0].data();
  float* out = y.data();
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < N * C; ++plane) {
    const int64_t n = plane / C, c = plane % C;
    const float* coef = coefs + (n * (shared ? 1 : C) + (shared ? 0 : c)) * 2 * K;
    const float* xp = in + plane * HW;
    float* yp = out + plane * HW;
    const float* p = q ? q + n * HW : nullptr;
    if (K == 2) {   // the papers' K: two lines, a branch-free loop that vectorises
      const float a1 = coef[0], a2 = coef[1], b1 = coef[2], b2 = coef[3];
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) {
        const float v1 = a1 * xp[i] + b1, v2 = a2 * xp[i] + b2;
        const float v = v2 > v1 ? v2 : v1;
        yp[i] = p ? clamped(p[i]) * v : v;
      }
    } else {
      for (int64_t i = 0; i < HW; ++i) {
        float v;
        dyrelu::winner(coef, K, xp[i], v);
        yp[i] = p ? clamped(p[i]) * v : v;
      }
    }
  }
}

// Two passes for dyrelu-c (the attention's ∂L/∂z needs every channel of a
// sample before any dx), one for -a and -b: dx, the coefficient sums per
// plane in double (dyrelu-a's then summed over channels in order) and the
// conv's weight and bias sums, added over samples in order.
void DyRelu::backward_kernel(const Tensor& x, const Tensor&, const Tensor& dy, const std::vector<Tensor>& ops, Tensor& dx,
                             std::vector<Tensor>& dops) const {
  float* dcoef_out = dops[0].defined() ? dops[0].data() : nullptr;
  const bool shared = kind_ == DyReluKind::a, attend = kind_ == DyReluKind::c;
  float* dweight = attend && dops[1].defined() ? dops[1].data() : nullptr;
  float* dbias = attend && dops[2].defined() ? dops[2].data() : nullptr;
#ifdef ACTLAB_HAVE_CUDA
  if (x.device() == Device::cuda)
    return cuda::dyrelu_backward(x, dy, ops[0].data(), shared, k_, cuda_attention(ops), dx, dcoef_out, dweight, dbias);
#endif
  const Planes planes = planes_of(x);
  const int64_t N = planes.N, C = planes.C, HW = planes.HW;
  const int K = k_, lines = 2 * k_;
  const float* in = x.data();
  const float* g = dy.data();
  const float* coefs = ops[0].data();
  float* out = dx.data();
  // dyrelu-c: x always gets the attention's share of the gradient, so ∂L/∂z is always formed.
  std::vector<float> q, dz;
  std::vector<double> weight_partial, bias_partial;
  if (attend) {
    q.resize(N * HW);
    dz.resize(N * HW);
    weight_partial.assign(N * C, 0.0);
    bias_partial.resize(N);
    attention_gradient(in, g, coefs, K, ops[1].data(), ops[2].data()[0], 1.0f / tau_, N, C, HW, q.data(), dz.data(),
                       bias_partial.data());
  }
  std::vector<double> partial(N * C * lines, 0.0);
  const float* weight = attend ? ops[1].data() : nullptr;
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < N * C; ++plane) {
    const int64_t n = plane / C, c = plane % C;
    const float* coef = coefs + (n * (shared ? 1 : C) + (shared ? 0 : c)) * lines;
    const PlaneAttention att = attend ? PlaneAttention{q.data() + n * HW, dz.data() + n * HW, weight[c],
                                                       weight_partial.data() + plane}
                                      : PlaneAttention{};
    const float* xp = in + plane * HW;
    const float* gp = g + plane * HW;
    double* acc = partial.data() + plane * lines;
    if (K != 2)
      k_lines_plane(xp, gp, coef, K, HW, out + plane * HW, acc, attend ? &att : nullptr);
    else if (attend)
      two_lines_plane<true>(xp, gp, coef, HW, out + plane * HW, acc, att);
    else
      two_lines_plane<false>(xp, gp, coef, HW, out + plane * HW, acc, att);
  }
  if (dcoef_out) {
    if (shared) {
      for (int64_t n = 0; n < N; ++n)
        for (int j = 0; j < lines; ++j) {
          double sum = 0.0;
          for (int64_t c = 0; c < C; ++c) sum += partial[(n * C + c) * lines + j];
          dcoef_out[n * lines + j] = static_cast<float>(sum);
        }
    } else {
      for (int64_t i = 0; i < N * C * lines; ++i) dcoef_out[i] = static_cast<float>(partial[i]);
    }
  }
  if (attend) {
    for (int64_t c = 0; dweight && c < C; ++c) {
      double sum = 0.0;
      for (int64_t n = 0; n < N; ++n) sum += weight_partial[n * C + c];
      dweight[c] = static_cast<float>(sum);
    }
    if (dbias) {
      double sum = 0.0;
      for (int64_t n = 0; n < N; ++n) sum += bias_partial[n];
      dbias[0] = static_cast<float>(sum);
    }
  }
}

// From tape primitives: the K lines as broadcast products, their maximum by
// pairwise `maximum`, times π for dyrelu-c.
Var DyRelu::composed(const Var& x) {
  using namespace ops;
  const int64_t N = x.size(0), C = x.size(1), lines = 2 * k_;
  const int64_t Cc = kind_ == DyReluKind::a ? 1 : C;
  const Var coef = reshape(coefficients(x), {N, Cc, lines, 1});
  Var best;
  for (int k = 0; k < k_; ++k) {
    // Column k of coef as [N, Cc, 1, 1]: a one-hot projection (a sum over the 2K axis).
    std::vector<float> pick_a(lines, 0.0f), pick_b(lines, 0.0f);
    pick_a[k] = 1.0f;
    pick_b[k_ + k] = 1.0f;
    auto column = [&](const std::vector<float>& onehot) {
      const Tensor h = Tensor::from_vector({1, 1, lines, 1}, onehot).to(x.device());
      return mean_hw(reshape(affine(mul(coef, Var(h)), static_cast<float>(lines), 0.0f), {N, Cc, lines, 1}));
    };
    const Var line = add(mul(column(pick_a), x), column(pick_b));
    best = k == 0 ? line : maximum(best, line);
  }
  return kind_ == DyReluKind::c ? mul(best, attention(x)) : best;
}

}  // namespace actlab
