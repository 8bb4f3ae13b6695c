// Elementwise CPU kernels: unary maps with their derivatives, broadcasting
// binary ops and the reduction that undoes broadcasting, plus the small
// shape ops (spatial mean, ResNet's option-A shortcut).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/cpu/cpu_kernels.h"
#include "core/cpu/lane_sums.h"
#include "core/cpu/vector_math.h"
#include "core/elementwise_math.h"
#include "core/error.h"

namespace actlab::cpu {
namespace {

using elementwise::apply;
using elementwise::combine;
using elementwise::derivative;

// Strides of `t` seen through the broadcast shape `out` (0 where broadcast).
std::vector<int64_t> broadcast_strides(const Shape& t, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  for (int i = static_cast<int>(t.size()) - 1, j = static_cast<int>(out.size()) - 1; i >= 0; --i, --j) {
    strides[j] = t[i] == 1 ? 0 : stride;
    stride *= t[i];
  }
  return strides;
}

// Calls body(offset_out, offset_a, offset_b, count, stride_a, stride_b) for
// the innermost rows [row_begin, row_end) of the broadcast iteration.
template <class Body>
void for_each_row(const Shape& out, const std::vector<int64_t>& sa, const std::vector<int64_t>& sb, Body body,
                  int64_t row_begin, int64_t row_end) {
  const int nd = static_cast<int>(out.size());
  if (nd == 0) {
    if (row_begin == 0 && row_end > 0) body(0, 0, 0, 1, 0, 0);
    return;
  }
  const int64_t inner = out[nd - 1];
  std::vector<int64_t> index(nd, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t rest = row_begin, d = nd - 2; d >= 0; --d) {   // the first row's position
    index[d] = rest % out[d];
    rest /= out[d];
    oa += index[d] * sa[d];
    ob += index[d] * sb[d];
  }
  for (int64_t row = row_begin; row < row_end; ++row) {
    body(row * inner, oa, ob, inner, sa[nd - 1], sb[nd - 1]);
    for (int d = nd - 2; d >= 0; --d) {
      ++index[d];
      oa += sa[d];
      ob += sb[d];
      if (index[d] < out[d]) break;
      oa -= sa[d] * out[d];
      ob -= sb[d] * out[d];
      index[d] = 0;
    }
  }
}

template <class Body>
void for_each_row(const Shape& out, const std::vector<int64_t>& sa, const std::vector<int64_t>& sb, Body body) {
  const int64_t inner = out.empty() ? 1 : out.back();
  for_each_row(out, sa, sb, body, 0, inner ? numel(out) / inner : 0);
}

// Runs body(tag) with the op as a compile-time constant (tag::value), so that
// each loop is compiled for one op and vectorises.
template <class Body>
void with_op(BinaryOp op, Body body) {
  switch (op) {
    case BinaryOp::add: return body(std::integral_constant<BinaryOp, BinaryOp::add>{});
    case BinaryOp::sub: return body(std::integral_constant<BinaryOp, BinaryOp::sub>{});
    case BinaryOp::mul: return body(std::integral_constant<BinaryOp, BinaryOp::mul>{});
    case BinaryOp::div: return body(std::integral_constant<BinaryOp, BinaryOp::div>{});
    case BinaryOp::maximum: return body(std::integral_constant<BinaryOp, BinaryOp::maximum>{});
    case BinaryOp::minimum: return body(std::integral_constant<BinaryOp, BinaryOp::minimum>{});
    case BinaryOp::greater_equal: return body(std::integral_constant<BinaryOp, BinaryOp::greater_equal>{});
    case BinaryOp::less_equal: return body(std::integral_constant<BinaryOp, BinaryOp::less_equal>{});
  }
}

template <class Body>
void with_op(UnaryOp op, Body body) {
  switch (op) {
#define ACTLAB_UNARY_CASE(name) \
  case UnaryOp::name: return body(std::integral_constant<UnaryOp, UnaryOp::name>{});
    ACTLAB_UNARY_CASE(neg) ACTLAB_UNARY_CASE(exp) ACTLAB_UNARY_CASE(log) ACTLAB_UNARY_CASE(sigmoid)
    ACTLAB_UNARY_CASE(tanh) ACTLAB_UNARY_CASE(relu) ACTLAB_UNARY_CASE(square) ACTLAB_UNARY_CASE(sqrt)
    ACTLAB_UNARY_CASE(abs) ACTLAB_UNARY_CASE(sin) ACTLAB_UNARY_CASE(cos) ACTLAB_UNARY_CASE(erf)
    ACTLAB_UNARY_CASE(atan) ACTLAB_UNARY_CASE(asinh)
#undef ACTLAB_UNARY_CASE
  }
}

// Work below this many elements stays on the calling thread.
constexpr int64_t kParallelFrom = 32768;

// The transcendental maps through vector_math.h, chunk by chunk (in parallel for large tensors); false for
// the rest, which the compiler vectorises as written.
bool vector_forward(UnaryOp op, const float* in, float* out, int64_t n) {
  void (*map)(const float*, float*, int64_t) = nullptr;
  switch (op) {
    case UnaryOp::exp: map = vexp; break;
    case UnaryOp::sigmoid: map = vsigmoid; break;
    case UnaryOp::tanh: map = vtanh; break;
    case UnaryOp::sin: map = vsin; break;
    case UnaryOp::cos: map = vcos; break;
    case UnaryOp::erf: map = verf; break;
    case UnaryOp::atan: map = vatan; break;
    case UnaryOp::asinh: map = vasinh; break;
    default: return false;
  }
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n > kParallelFrom)
  for (int64_t c = 0; c < chunks; ++c) map(in + c * kChunk, out + c * kChunk, std::min(kChunk, n - c * kChunk));
  return true;
}

}  // namespace

void unary_forward(UnaryOp op, const Tensor& x, Tensor& y) {
  const float* in = x.data();
  float* out = y.data();
  const int64_t n = x.numel();
  if (vector_forward(op, in, out, n)) return;
  // Each thread takes private copies of the pointers (firstprivate). Read
  // from the lambda's closure, they would be reloaded on every iteration, as
  // the stores might change them, and the loop would run on gathers and
  // scatters (seen in the disassembly: a 3x slower add).
  with_op(op, [=](auto tag) {
    const float* src = in;
    float* dst = out;
#pragma omp parallel for simd schedule(static) if (n > kParallelFrom) firstprivate(src, dst)
    for (int64_t i = 0; i < n; ++i) dst[i] = apply(tag.value, src[i]);
  });
}

void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) {
  const float* xd = x.data();
  const float* yd = y.data();
  const float* g = dy.data();
  float* out = dx.data();
  const int64_t n = x.numel();
  with_op(op, [=](auto tag) {   // private pointers: see unary_forward
    const float *xs = xd, *ys = yd, *gs = g;
    float* dst = out;
#pragma omp parallel for simd schedule(static) if (n > kParallelFrom) firstprivate(xs, ys, gs, dst)
    for (int64_t i = 0; i < n; ++i) dst[i] = gs[i] * derivative(tag.value, xs[i], ys[i]);
  });
}

void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const float* ad = a.data();
  const float* bd = b.data();
  float* od = out.data();
  const int64_t n = out.numel();
  if (a.shape() == b.shape()) {
    with_op(op, [=](auto tag) {   // private pointers: see unary_forward
      const float *pa = ad, *pb = bd;
      float* dst = od;
#pragma omp parallel for simd schedule(static) if (n > kParallelFrom) firstprivate(pa, pb, dst)
      for (int64_t i = 0; i < n; ++i) dst[i] = combine(tag.value, pa[i], pb[i]);
    });
    return;
  }
  // Broadcasting: rows of the innermost dimension, each with a stride of 1
  // or 0 per operand; blocks of rows in parallel.
  const auto sa = broadcast_strides(a.shape(), out.shape());
  const auto sb = broadcast_strides(b.shape(), out.shape());
  const int64_t inner = out.shape().empty() ? 1 : out.shape().back();
  const int64_t rows = inner ? n / inner : 0;
  with_op(op, [&](auto tag) {
    constexpr BinaryOp k = decltype(tag)::value;
    auto row = [=](int64_t o, int64_t ia, int64_t ib, int64_t count, int64_t da, int64_t db) {
      float* r = od + o;
      const float *pa = ad + ia, *pb = bd + ib;
      if (da == 1 && db == 1) {
#pragma omp simd
        for (int64_t i = 0; i < count; ++i) r[i] = combine(k, pa[i], pb[i]);
      } else if (da == 1 && db == 0) {
        const float vb = *pb;
#pragma omp simd
        for (int64_t i = 0; i < count; ++i) r[i] = combine(k, pa[i], vb);
      } else if (da == 0 && db == 1) {
        const float va = *pa;
#pragma omp simd
        for (int64_t i = 0; i < count; ++i) r[i] = combine(k, va, pb[i]);
      } else {
        for (int64_t i = 0; i < count; ++i) r[i] = combine(k, pa[i * da], pb[i * db]);
      }
    };
    if (n <= kParallelFrom || rows < 2) return for_each_row(out.shape(), sa, sb, row);
#pragma omp parallel
    {
      const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
      for_each_row(out.shape(), sa, sb, row, rows * t / threads, rows * (t + 1) / threads);
    }
  });
}

void affine_scalar(const Tensor& x, float alpha, float beta, Tensor& y) {
  const float* in = x.data();
  float* out = y.data();
  const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) out[i] = alpha * in[i] + beta;
}

void sum_to(const Tensor& x, Tensor& out) {
  if (x.shape() == out.shape()) {
    std::memcpy(out.data(), x.data(), x.numel() * sizeof(float));
    return;
  }
  // Accumulate in double, in iteration order: deterministic.
  std::vector<double> acc(out.numel(), 0.0);
  const auto so = broadcast_strides(out.shape(), x.shape());
  const float* xd = x.data();
  for_each_row(x.shape(), so, so, [&](int64_t ix, int64_t io, int64_t, int64_t count, int64_t d, int64_t) {
    if (d == 0) {
      double s = 0.0;
      for (int64_t i = 0; i < count; ++i) s += xd[ix + i];
      acc[io] += s;
    } else {
      for (int64_t i = 0; i < count; ++i) acc[io + i * d] += xd[ix + i];
    }
  });
  float* od = out.data();
  for (int64_t i = 0; i < out.numel(); ++i) od[i] = static_cast<float>(acc[i]);
}

void mean_hw_forward(const Tensor& x, Tensor& y) {
  const int64_t planes = x.size(0) * x.size(1), HW = x.numel() / std::max<int64_t>(planes, 1);
  const float* xd = x.data();
  float* yd = y.data();
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p) {
    const float* plane = xd + p * HW;
    LaneSums sums;
    sums.add(HW, [plane](int64_t i) { return static_cast<double>(plane[i]); });
    yd[p] = static_cast<float>(sums.total() / static_cast<double>(HW));
  }
}

void mean_hw_backward(const Tensor& dy, Tensor& dx) {
  const int64_t planes = dx.size(0) * dx.size(1), HW = dx.numel() / std::max<int64_t>(planes, 1);
  const float* g = dy.data();
  float* out = dx.data();
  const float inv = 1.0f / static_cast<float>(HW);
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < HW; ++i) out[p * HW + i] = g[p] * inv;
}

void shortcut_a_forward(const Tensor& x, int64_t pad, Tensor& y) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t K = y.size(1), P = y.size(2), Q = y.size(3);
  const float* xd = x.data();
  float* yd = y.data();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) {
      float* out = yd + (n * K + k) * P * Q;
      const int64_t c = k - pad;
      if (c < 0 || c >= C) {
        std::fill(out, out + P * Q, 0.0f);
        continue;
      }
      const float* in = xd + (n * C + c) * H * W;
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) out[p * Q + q] = in[(2 * p) * W + 2 * q];
    }
  }
}

void shortcut_a_backward(const Tensor& dy, int64_t pad, Tensor& dx) {
  const int64_t N = dx.size(0), C = dx.size(1), H = dx.size(2), W = dx.size(3);
  const int64_t K = dy.size(1), P = dy.size(2), Q = dy.size(3);
  const float* g = dy.data();
  float* out = dx.data();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      float* plane = out + (n * C + c) * H * W;
      std::fill(plane, plane + H * W, 0.0f);
      const float* in = g + (n * K + c + pad) * P * Q;
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) plane[(2 * p) * W + 2 * q] = in[p * Q + q];
    }
  }
}

bool all_finite(const Tensor& x) {
  const float* d = x.data();
  const int64_t n = x.numel();
  bool ok = true;
  for (int64_t i = 0; i < n; ++i) ok &= std::isfinite(d[i]);
  return ok;
}

}  // namespace actlab::cpu
