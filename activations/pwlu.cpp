// PWLU's phases, fused CPU kernels and composed reference (see pwlu.h).
#include "activations/pwlu.h"

#include <algorithm>
#include <cmath>

#include "activations/cuda_twins.h"
#include "activations/pwlu_math.h"
#include "autograd/ops.h"
#include "core/cpu/vector_math.h"
#include "core/error.h"

namespace actlab {
namespace {

enum Operand { kPoints, kLeft, kRight, kSlopeLeft, kSlopeRight };

pwlu::Channel channel_of(const std::vector<Tensor>& ops, int64_t p, int n) {
  return {ops[kPoints].data() + p * (n + 1), ops[kLeft].data()[p], ops[kRight].data()[p], ops[kSlopeLeft].data()[p],
          ops[kSlopeRight].data()[p], n};
}

}  // namespace

Pwlu::Pwlu(Spec& spec, int64_t channels) : Activation(spec.text()) {
  n_ = spec.get_int("n", 16);
  const std::string mode = spec.get_string("mode", "channel");
  stat_epochs_ = spec.get_int("stat_epochs", 5);
  momentum_ = spec.get_float("momentum", 0.9f);
  sigmas_ = spec.get_float("sigmas", 3.0f);
  if (n_ < 2 || n_ % 2) spec.reject("n", "must be even and at least 2 (PWLU starts as ReLU, which needs a breakpoint at 0)");
  if (n_ > 1024) spec.reject("n", "must be at most 1024 (the paper uses 16)");
  if (mode != "channel" && mode != "layer") spec.reject("mode", "expected channel or layer");
  if (stat_epochs_ < 0) spec.reject("stat_epochs", "must be 0 or more");
  if (!(momentum_ >= 0.0f && momentum_ < 1.0f)) spec.reject("momentum", "must be in [0, 1)");
  if (!(sigmas_ > 0.0f)) spec.reject("sigmas", "must be positive");
  spec.finish();
  layer_ = mode == "layer";
  const int64_t P = layer_ ? 1 : channels;
  add_parameter("points", Tensor::zeros({P, n_ + 1}), Role::act);
  add_parameter("bound_left", Tensor::zeros({P}), Role::act);
  add_parameter("bound_right", Tensor::zeros({P}), Role::act);
  add_parameter("slope_left", Tensor::zeros({P}), Role::act);
  add_parameter("slope_right", Tensor::zeros({P}), Role::act);
  running_mean_ = add_buffer("running_mean", Tensor::zeros({P}));
  running_std_ = add_buffer("running_std", Tensor::full({P}, 1.0f));
  reset_as_relu(std::vector<float>(P, -3.0f), std::vector<float>(P, 3.0f));
  phase_ = stat_epochs_ > 0 ? 1 : 2;
}

// B_L, B_R as given; K_L = 0, K_R = 1; Y_i = max(B_i, 0): ReLU up to rounding.
void Pwlu::reset_as_relu(const std::vector<float>& left, const std::vector<float>& right) {
  const int64_t P = static_cast<int64_t>(left.size());
  std::vector<float> points(P * (n_ + 1));
  for (int64_t p = 0; p < P; ++p) {
    const float d = (right[p] - left[p]) / static_cast<float>(n_);
    for (int i = 0; i <= n_; ++i) points[p * (n_ + 1) + i] = std::max(left[p] + static_cast<float>(i) * d, 0.0f);
  }
  const auto& params = own_parameters();
  params[kPoints].second.var.node()->value.copy_from(Tensor::from_vector({P, n_ + 1}, points));
  params[kLeft].second.var.node()->value.copy_from(Tensor::from_vector({P}, left));
  params[kRight].second.var.node()->value.copy_from(Tensor::from_vector({P}, right));
  params[kSlopeLeft].second.var.node()->value.copy_from(Tensor::zeros({P}));
  params[kSlopeRight].second.var.node()->value.copy_from(Tensor::full({P}, 1.0f));
}

std::string Pwlu::schedule_note(int64_t epochs) const {
  if (stat_epochs_ == 0 || stat_epochs_ < epochs) return {};
  return spec() + " stays in phase I for all " + std::to_string(epochs) + " epoch(s) of this run (stat_epochs=" +
         std::to_string(stat_epochs_) + "): it computes ReLU and gathers statistics, and its parameters never learn; "
         "pwlu(stat_epochs=K) with K < " + std::to_string(epochs) + " leaves epochs for phase II";
}

void Pwlu::start_epoch(int64_t epoch) {
  const int wanted = epoch < stat_epochs_ ? 1 : 2;
  if (phase_ == 1 && wanted == 2) realign();
  phase_ = wanted;
}

void Pwlu::restore_schedule_state(int64_t phase) {
  check(phase == 1 || phase == 2, spec() + ": the resume state holds phase " + std::to_string(phase) + ", expected 1 or 2");
  phase_ = static_cast<int>(phase);
}

void Pwlu::realign() {
  const std::vector<float> mean = running_mean_->to_vector(), std = running_std_->to_vector();
  std::vector<float> left(mean.size()), right(mean.size());
  for (size_t p = 0; p < mean.size(); ++p) {
    const float w = std::max(sigmas_ * std[p], 5e-4f);
    left[p] = mean[p] - w;
    right[p] = mean[p] + w;
  }
  reset_as_relu(left, right);
  phase_ = 2;
}

// Batch mean and population std per channel (or over everything for
// mode=layer), folded into the running values with `momentum`.
void Pwlu::update_statistics(const Tensor& x) {
  const int64_t P = running_mean_->numel();
  Tensor mean = Tensor::empty({P}, x.device()), std = Tensor::empty({P}, x.device());
#ifdef ACTLAB_HAVE_CUDA
  if (x.device() == Device::cuda) {
    cuda::pwlu_statistics(x, layer_, mean, std);
  } else
#endif
  {
    const Planes planes = planes_of(x);
    const int64_t N = planes.N, C = planes.C, HW = planes.HW;
    const float* in = x.data();
    std::vector<double> plane_sum(N * C), plane_square(N * C);
#pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < N * C; ++plane) {
      double s = 0.0, q = 0.0;
      for (int64_t i = plane * HW; i < (plane + 1) * HW; ++i) s += in[i], q += double(in[i]) * in[i];
      plane_sum[plane] = s, plane_square[plane] = q;
    }
    std::vector<double> sum(P, 0.0), square(P, 0.0);
    for (int64_t plane = 0; plane < N * C; ++plane) {   // in order: deterministic
      const int64_t p = layer_ ? 0 : plane % C;
      sum[p] += plane_sum[plane], square[p] += plane_square[plane];
    }
    const double count = static_cast<double>(x.numel() / P);
    for (int64_t p = 0; p < P; ++p) {
      const double mu = sum[p] / count;
      mean.data()[p] = static_cast<float>(mu);
      std.data()[p] = static_cast<float>(std::sqrt(std::max(square[p] / count - mu * mu, 0.0)));
    }
  }
  const std::vector<float> batch_mean = mean.to_vector(), batch_std = std.to_vector();
  std::vector<float> running_mean = running_mean_->to_vector(), running_std = running_std_->to_vector();
  for (int64_t p = 0; p < P; ++p) {
    running_mean[p] = momentum_ * running_mean[p] + (1.0f - momentum_) * batch_mean[p];
    running_std[p] = momentum_ * running_std[p] + (1.0f - momentum_) * batch_std[p];
  }
  running_mean_->copy_from(Tensor::from_vector({P}, running_mean));
  running_std_->copy_from(Tensor::from_vector({P}, running_std));
}

// Phase I: the stored function, parameters frozen (no gradient, so no update,
// decay or momentum), statistics kept while training. Phase II: everything learns.
std::vector<Var> Pwlu::operands(const Var& x) {
  std::vector<Var> out;
  for (auto& [name, p] : own_parameters()) out.push_back(phase_ == 1 ? Var(p.var.value()) : p.var);
  if (phase_ == 1 && training() && tape().enabled()) update_statistics(x.value());
  return out;
}

void Pwlu::forward_kernel(const Tensor& x, const std::vector<Tensor>& ops, Tensor& y) const {
#ifdef ACTLAB_HAVE_CUDA
  if (x.device() == Device::cuda)
    return cuda::pwlu_forward(x, ops[kPoints].data(), ops[kLeft].data(), ops[kRight].data(), ops[kSlopeLeft].data(),
                              ops[kSlopeRight].data(), n_, layer_, y);
#endif
  const Planes planes = planes_of(x);
  const int64_t N = planes.N, C = planes.C, HW = planes.HW;
  const float* in = x.data();
  float* out = y.data();
  const int n = n_;
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < N * C; ++plane) {
    const pwlu::Channel p = channel_of(ops, layer_ ? 0 : plane % C, n);
    const float d = (p.right - p.left) / static_cast<float>(n), y0 = p.y[0], yn = p.y[n];
    // pwlu::value in two vectorised loops per chunk: the interpolation (the
    // table reads become gathers), then the choice of piece. In one loop GCC
    // moves the gathers into the branch that uses them and vectorises nothing.
    for (int64_t begin = plane * HW, end = begin + HW; begin < end; begin += cpu::kChunk) {
      const int64_t m = std::min(cpu::kChunk, end - begin);
      const float* xp = in + begin;
      float* yp = out + begin;
      float inside[cpu::kChunk];
#pragma omp simd
      for (int64_t j = 0; j < m; ++j) {
        const int i = pwlu::segment(xp[j], p.left, d, n);
        const float t = (xp[j] - (p.left + static_cast<float>(i) * d)) / d;
        inside[j] = (1.0f - t) * p.y[i] + t * p.y[i + 1];
      }
#pragma omp simd
      for (int64_t j = 0; j < m; ++j) {
        const float x = xp[j];
        const float left = (x - p.left) * p.slope_left + y0, right = (x - p.right) * p.slope_right + yn;
        yp[j] = x < p.left ? left : (x >= p.right ? right : inside[j]);
      }
    }
  }
}

void Pwlu::backward_kernel(const Tensor& x, const Tensor&, const Tensor& dy, const std::vector<Tensor>& ops, Tensor& dx,
                           std::vector<Tensor>& dops) const {
  auto grad = [&](int k) { return dops[k].defined() ? dops[k].data() : nullptr; };
#ifdef ACTLAB_HAVE_CUDA
  if (x.device() == Device::cuda)
    return cuda::pwlu_backward(x, dy, ops[kPoints].data(), ops[kLeft].data(), ops[kRight].data(),
                               ops[kSlopeLeft].data(), ops[kSlopeRight].data(), n_, layer_, dx, grad(kPoints),
                               grad(kLeft), grad(kRight), grad(kSlopeLeft), grad(kSlopeRight));
#endif
  const Planes planes = planes_of(x);
  const int64_t N = planes.N, C = planes.C, HW = planes.HW;
  const int64_t stride = n_ + 5;   // per plane: points, then B_L, B_R, K_L, K_R
  const float* in = x.data();
  const float* g = dy.data();
  float* out = dx.data();
  std::vector<double> partial(N * C * stride, 0.0);
  const int n = n_;
#pragma omp parallel
  {
    // Four interleaved point histograms per thread, reused from plane to plane.
    std::vector<double> lane_storage(4 * (n + 1));
    double* lanes[4] = {&lane_storage[0], &lane_storage[n + 1], &lane_storage[2 * (n + 1)], &lane_storage[3 * (n + 1)]};
#pragma omp for schedule(static)
    for (int64_t plane = 0; plane < N * C; ++plane) {
      const pwlu::Channel p = channel_of(ops, layer_ ? 0 : plane % C, n);
      const float width = p.right - p.left, d = width / static_cast<float>(n);
        double* acc = partial.data() + plane * stride;
      int index[cpu::kChunk];
      float lower[cpu::kChunk], upper[cpu::kChunk], position[cpu::kChunk], slope[cpu::kChunk];
      std::fill(lane_storage.begin(), lane_storage.end(), 0.0);
      for (int64_t begin = plane * HW, end = begin + HW; begin < end; begin += cpu::kChunk) {
        const int64_t m = std::min(cpu::kChunk, end - begin);
        const float* xp = in + begin;
        const float* gp = g + begin;
        float* dp = out + begin;
        float sum_left = 0.0f, sum_right = 0.0f, sum_slope_left = 0.0f, sum_slope_right = 0.0f;
        // pwlu::slopes in two vectorised loops (see forward_kernel): the
        // segment, its position t and its slope k (gathers); then dx, the bound
        // and slope sums, and for the points the segment and its two weights
        // (scattered below).
#pragma omp simd
        for (int64_t j = 0; j < m; ++j) {
          const int i = pwlu::segment(xp[j], p.left, d, n);
          index[j] = i;
          position[j] = (xp[j] - (p.left + static_cast<float>(i) * d)) / d;
          slope[j] = (p.y[i + 1] - p.y[i]) / d;
        }
#pragma omp simd reduction(+ : sum_left, sum_right, sum_slope_left, sum_slope_right)
        for (int64_t j = 0; j < m; ++j) {
          const float x = xp[j], gj = gp[j], t = position[j], k = slope[j];
          const float u = (x - p.left) / width;
          const bool is_left = x < p.left, is_right = !is_left && x >= p.right;
          dp[j] = gj * (is_left ? p.slope_left : (is_right ? p.slope_right : k));
          index[j] = is_left ? 0 : (is_right ? n - 1 : index[j]);
          lower[j] = is_left ? gj : (is_right ? 0.0f : gj * (1.0f - t));
          upper[j] = is_left ? 0.0f : (is_right ? gj : gj * t);
          sum_left += is_left ? -gj * p.slope_left : (is_right ? 0.0f : -gj * k * (1.0f - u));
          sum_right += is_right ? -gj * p.slope_right : (is_left ? 0.0f : -gj * k * u);
          sum_slope_left += is_left ? gj * (x - p.left) : 0.0f;
          sum_slope_right += is_right ? gj * (x - p.right) : 0.0f;
        }
        // Four interleaved histograms, so consecutive elements of one segment
        // do not wait on each other's additions.
        int64_t j = 0;
        for (; j + 4 <= m; j += 4)
          for (int lane = 0; lane < 4; ++lane) {
            lanes[lane][index[j + lane]] += lower[j + lane];
            lanes[lane][index[j + lane] + 1] += upper[j + lane];
          }
        for (; j < m; ++j) {
          lanes[0][index[j]] += lower[j];
          lanes[0][index[j] + 1] += upper[j];
        }
        acc[n + 1] += sum_left;
        acc[n + 2] += sum_right;
        acc[n + 3] += sum_slope_left;
        acc[n + 4] += sum_slope_right;
      }
      for (int i = 0; i <= n; ++i) acc[i] = (lanes[0][i] + lanes[1][i]) + (lanes[2][i] + lanes[3][i]);
    }
  }
  // Planes into parameters (per channel, or all into one for mode=layer), in order.
  const int64_t P = layer_ ? 1 : C;
  std::vector<double> total(P * stride, 0.0);
  for (int64_t plane = 0; plane < N * C; ++plane) {
    const int64_t p = layer_ ? 0 : plane % C;
    for (int64_t j = 0; j < stride; ++j) total[p * stride + j] += partial[plane * stride + j];
  }
  for (int64_t p = 0; p < P; ++p) {
    if (float* d = grad(kPoints))
      for (int i = 0; i <= n_; ++i) d[p * (n_ + 1) + i] = static_cast<float>(total[p * stride + i]);
    for (int k = kLeft; k <= kSlopeRight; ++k)
      if (float* d = grad(k)) d[p] = static_cast<float>(total[p * stride + n_ + k]);
  }
}

// From tape primitives, as a sum of hinges: with B_j = B_L + j·d and
// K_j = (Y_{j+1} − Y_j)/d,
//   f(x) = Y_0 + K_L·min(x − B_L, 0) + Σ_j K_j·min(relu(x − B_j), d) + K_R·relu(x − B_R).
Var Pwlu::composed(const Var& x) {
  using namespace ops;
  const int64_t P = running_mean_->numel();
  const std::vector<Var> ops_ = operands(x);
  auto per_channel = [&](const Var& v) { return reshape(v, {1, P, 1, 1}); };
  const Var points = reshape(ops_[kPoints], {1, P, n_ + 1, 1});
  auto point = [&](int j) {
    std::vector<float> onehot(n_ + 1, 0.0f);
    onehot[j] = 1.0f;
    const Tensor h = Tensor::from_vector({1, 1, n_ + 1, 1}, onehot).to(x.device());
    return mean_hw(affine(mul(points, Var(h)), static_cast<float>(n_ + 1), 0.0f));   // [1, P, 1, 1]
  };
  const Var left = per_channel(ops_[kLeft]), right = per_channel(ops_[kRight]);
  const Var d = affine(sub(right, left), 1.0f / static_cast<float>(n_), 0.0f);
  const Var zero = scalar(0.0f, x.device());
  Var f = add(point(0), mul(per_channel(ops_[kSlopeLeft]), minimum(sub(x, left), zero)));
  f = add(f, mul(per_channel(ops_[kSlopeRight]), relu(sub(x, right))));
  Var previous = point(0);
  for (int j = 0; j < n_; ++j) {
    const Var next = point(j + 1);
    const Var b = add(left, affine(d, static_cast<float>(j), 0.0f));
    f = add(f, mul(div(sub(next, previous), d), minimum(relu(sub(x, b)), d)));
    previous = next;
  }
  return f;
}

}  // namespace actlab
