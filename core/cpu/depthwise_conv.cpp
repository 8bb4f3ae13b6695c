// Depthwise 2-D convolution on the CPU (groups == C == K, one filter per channel, as in MobileNetV2),
// forward and both backwards. conv2d.cpp sends these shapes here: as a GEMM they would multiply with an
// inner dimension of only R·S. Two layouts, picked by the output size:
//
// Planes (most shapes): one (sample, channel) plane per OpenMP iteration, copied into a zero-padded,
// phase-split scratch ("packed"): with stride s the padded plane xp splits into s·s phase planes, phase
// (a, b) holding xp[a + s·i][b + s·j] in rows of Wph. Then every tap (r, t) reads one contiguous run,
// and the output, laid out in rows of Wph too (the "grid"; the Wph − Q columns past Q are computed and
// dropped), is a short sum of shifted vectors:
//   grid[i] = bias + Σ_(r,t) w[r][t] · packed[offset(r, t) + i],
//   offset(r, t) = phase(r mod s, t mod s) + (r div s)·Wph + (t div s).
// The backwards are the adjoints of that same sum: dx gathers dy (placed on a zero grid) into each
// phase plane, dw is a dot product of dy's grid with each tap's run. Loops run over whole blocks of
// 16 floats (the scratch has slack), so there are no remainders.
//
// Channels in lanes (outputs of at most 32 values, e.g. 4x4): 16 channels of one sample transposed so
// that one vector holds one position of all 16 planes (section below).
//
// dw and dbias: per plane in float, then across samples in double in sample order, so the result does
// not depend on the thread count.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/cpu/cpu_kernels.h"

namespace actlab::cpu {
namespace {

constexpr int64_t kBlock = 16;

int64_t round_up(int64_t n) { return (n + kBlock - 1) / kBlock * kBlock; }

// kBlock floats in one value (a GCC ≥ 12 / Clang vector extension: one zmm register with AVX-512, two
// ymm with AVX2). Spelled out because GCC 12 vectorises plain block-of-16 loops the wrong way round
// (the outer loop, with gathers: ten times slower). load and store need only float alignment.
// Without AVX-512, GCC and Clang warn that 64-byte vectors cross calls differently; Vec never leaves
// this file, so the difference cannot matter.
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float Vec __attribute__((vector_size(kBlock * sizeof(float)), aligned(alignof(float))));
Vec load(const float* p) { return *reinterpret_cast<const Vec*>(p); }
void store(float* p, const Vec& v) { *reinterpret_cast<Vec*>(p) = v; }
Vec load_aligned(const float* p) {   // p must be 64-byte aligned
  return *reinterpret_cast<const Vec*>(__builtin_assume_aligned(p, 64));
}

// The lanes of v added pairwise (halves, then quarters, ...) in registers: a fixed order, and four
// dependent steps instead of sixteen, which matters for small planes.
typedef float Vec8 __attribute__((vector_size(8 * sizeof(float))));
typedef float Vec4 __attribute__((vector_size(4 * sizeof(float))));
typedef float Vec2 __attribute__((vector_size(2 * sizeof(float))));
float lane_sum(const Vec& v) {
  static_assert(kBlock == 16);
  const Vec8 v8 = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                  __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const Vec4 v4 = __builtin_shufflevector(v8, v8, 0, 1, 2, 3) + __builtin_shufflevector(v8, v8, 4, 5, 6, 7);
  const Vec2 v2 = __builtin_shufflevector(v4, v4, 0, 1) + __builtin_shufflevector(v4, v4, 2, 3);
  return v2[0] + v2[1];
}

struct Geometry {
  int64_t s;                      // stride
  int64_t Wph, phase_size;        // phase plane row length and size (Hph·Wph)
  int64_t taps;                   // R·S
  std::vector<int64_t> offset;    // per tap r·S + t: its run's start in the packed input
  int64_t grid;                   // flattened output grid, (P − 1)·Wph + Q
  int64_t packed_size;            // the packed input (or dx in packed layout), with slack
  int64_t front;                  // zeros before dy's grid: the largest in-phase shift
  int64_t dy_size;                // dy's grid with its zeros before and after
  // Input element x[h][u + s·k] (u < s) sits at packed[row_start[h] + column_start[u] + k].
  std::vector<int64_t> row_start, column_start;

  explicit Geometry(const ConvShape& c) : s(c.stride), taps(c.R * c.S) {
    const int64_t Hph = (c.H + 2 * c.pad + s - 1) / s;
    Wph = (c.W + 2 * c.pad + s - 1) / s;
    phase_size = Hph * Wph;
    grid = (c.P - 1) * Wph + c.Q;
    for (int64_t r = 0; r < c.R; ++r)
      for (int64_t t = 0; t < c.S; ++t)
        offset.push_back(((r % s) * s + t % s) * phase_size + (r / s) * Wph + t / s);
    // Reads of the forward and dw reach offset + round_up(grid); writes of dx reach a phase plane's
    // end + kBlock.
    packed_size = std::max(*std::max_element(offset.begin(), offset.end()) + round_up(grid),
                           s * s * phase_size + kBlock);
    front = ((c.R - 1) / s) * Wph + (c.S - 1) / s;
    dy_size = front + phase_size + 2 * kBlock;
    for (int64_t h = 0; h < c.H; ++h) {
      const int64_t hp = h + c.pad;
      row_start.push_back((hp % s) * s * phase_size + (hp / s) * Wph);
    }
    for (int64_t u = 0; u < s; ++u) column_start.push_back(((u + c.pad) % s) * phase_size + (u + c.pad) / s);
  }
};

// The first real (unpadded) position in padded coordinates whose index is ≡ phase (mod s), and the
// phase-plane index range [first, last] of real positions; false when the phase holds none.
bool real_range(int64_t pad, int64_t size, int64_t s, int64_t phase, int64_t& first, int64_t& last) {
  const int64_t lo = pad + ((phase - pad) % s + s) % s;
  const int64_t end = pad + size - 1;
  if (lo > end) return false;
  const int64_t hi = end - ((end - phase) % s + s) % s;
  first = lo / s;
  last = hi / s;
  return true;
}

// to[k] = from[k] for k < count. As a plain loop GCC calls memmove for every (short) row: 15% slower
// on 8x8 planes.
void copy(const float* __restrict from, float* __restrict to, int64_t count) {
#pragma omp simd
  for (int64_t k = 0; k < count; ++k) to[k] = from[k];
}

// The input plane into the packed layout; the padding is never written. Stride 2 splits each row into
// its even and odd columns in one loop (which vectorises with permutes).
void pack(const ConvShape& c, const Geometry& g, const float* x, float* packed) {
  const int64_t s = g.s, W = c.W;
  for (int64_t h = 0; h < c.H; ++h) {
    const float* __restrict row = x + h * W;
    float* base = packed + g.row_start[h];
    if (s == 1) {
      copy(row, base + g.column_start[0], W);
    } else if (s == 2) {
      float* __restrict even = base + g.column_start[0];
      float* __restrict odd = base + g.column_start[1];
      for (int64_t k = 0; k < W / 2; ++k) {
        even[k] = row[2 * k];
        odd[k] = row[2 * k + 1];
      }
      if (W % 2) even[W / 2] = row[W - 1];
    } else {
      for (int64_t u = 0; u < s && u < W; ++u)
        for (int64_t k = 0; u + s * k < W; ++k) base[g.column_start[u] + k] = row[u + s * k];
    }
  }
}

// The adjoint: the real positions of the packed layout back into the plane x.
void unpack(const ConvShape& c, const Geometry& g, const float* packed, float* x) {
  const int64_t s = g.s, W = c.W;
  for (int64_t h = 0; h < c.H; ++h) {
    float* __restrict row = x + h * W;
    const float* base = packed + g.row_start[h];
    if (s == 1) {
      copy(base + g.column_start[0], row, W);
    } else if (s == 2) {
      const float* __restrict even = base + g.column_start[0];
      const float* __restrict odd = base + g.column_start[1];
      for (int64_t k = 0; k < W / 2; ++k) {
        row[2 * k] = even[k];
        row[2 * k + 1] = odd[k];
      }
      if (W % 2) row[W - 1] = even[W / 2];
    } else {
      for (int64_t u = 0; u < s && u < W; ++u)
        for (int64_t k = 0; u + s * k < W; ++k) row[u + s * k] = base[g.column_start[u] + k];
    }
  }
}

// out[i] = init + Σ_k coef[k]·src[offset[k] + i] over whole blocks covering [0, n). kTaps > 0 fixes
// the tap count at compile time (the loop over taps unrolls); 0 takes `taps`. Four blocks at a time
// keep four independent chains of multiply-adds in flight.
template <int kTaps>
void shifted_sum_n(const float* src, const int64_t* offset, const float* coef, int64_t taps, float init, float* out,
                   int64_t n) {
  const int64_t T = kTaps > 0 ? kTaps : taps;
  int64_t i = 0;
  for (; i + 3 * kBlock < n; i += 4 * kBlock) {
    Vec a0 = Vec{} + init, a1 = a0, a2 = a0, a3 = a0;
    for (int64_t k = 0; k < T; ++k) {
      const float ck = coef[k];
      const float* in = src + offset[k] + i;
      a0 += ck * load(in);
      a1 += ck * load(in + kBlock);
      a2 += ck * load(in + 2 * kBlock);
      a3 += ck * load(in + 3 * kBlock);
    }
    store(out + i, a0);
    store(out + i + kBlock, a1);
    store(out + i + 2 * kBlock, a2);
    store(out + i + 3 * kBlock, a3);
  }
  for (; i < n; i += kBlock) {
    Vec acc = Vec{} + init;
    for (int64_t k = 0; k < T; ++k) acc += coef[k] * load(src + offset[k] + i);
    store(out + i, acc);
  }
}

void shifted_sum(const float* src, const int64_t* offset, const float* coef, int64_t taps, float init, float* out,
                 int64_t n) {
  switch (taps) {
    case 1: return shifted_sum_n<1>(src, offset, coef, taps, init, out, n);
    case 2: return shifted_sum_n<2>(src, offset, coef, taps, init, out, n);
    case 4: return shifted_sum_n<4>(src, offset, coef, taps, init, out, n);
    case 9: return shifted_sum_n<9>(src, offset, coef, taps, init, out, n);
    default: return shifted_sum_n<0>(src, offset, coef, taps, init, out, n);
  }
}

// sums[k] = Σ_i dy[i]·packed[offset[k] + i] for every tap k, and sums[taps] = Σ_i dy[i], over whole
// blocks covering [0, n) (dy is zero past the grid and in its dropped columns).
template <int kTaps>
void tap_dots_n(const float* dy, const float* packed, const int64_t* offset, int64_t n, float* sums) {
  Vec acc[kTaps + 1] = {};
  for (int64_t i = 0; i < n; i += kBlock) {
    const Vec g = load(dy + i);
    acc[kTaps] += g;
    for (int64_t k = 0; k < kTaps; ++k) acc[k] += g * load(packed + offset[k] + i);
  }
  for (int64_t k = 0; k <= kTaps; ++k) sums[k] = lane_sum(acc[k]);
}

void tap_dots(const float* dy, const float* packed, const int64_t* offset, int64_t taps, int64_t n, float* sums) {
  if (taps == 9) return tap_dots_n<9>(dy, packed, offset, n, sums);
  // Any other tap count: one pass per tap.
  for (int64_t k = 0; k <= taps; ++k) {
    Vec acc = {};
    for (int64_t i = 0; i < n; i += kBlock) acc += load(dy + i) * (k < taps ? load(packed + offset[k] + i) : Vec{} + 1.0f);
    sums[k] = lane_sum(acc);
  }
}

// Calls body(unit, scratch) for every unit in [0, count) in parallel, each thread with its own `floats`
// of scratch, zeroed once: padding and dropped columns are never written afterwards, so they stay zero.
template <class Body>
void parallel_units(int64_t count, int64_t floats, const Body& body) {
  const int64_t stride = round_up(floats);
  const Tensor scratch = Tensor::zeros({static_cast<int64_t>(omp_get_max_threads()) * stride});
#pragma omp parallel for schedule(static)
  for (int64_t unit = 0; unit < count; ++unit) body(unit, scratch.data() + omp_get_thread_num() * stride);
}

// Places dy's P×Q plane on the zeroed grid (rows of Wph) after `front` zeros.
void place_dy(const ConvShape& c, const Geometry& g, const float* dy, float* grid) {
  for (int64_t p = 0; p < c.P; ++p) copy(dy + p * c.Q, grid + g.front + p * g.Wph, c.Q);
}

// --- Channels in lanes ------------------------------------------------------------------------------
// On outputs of a few dozen values the per-plane work above is mostly overhead (a 4x4 plane fills two
// blocks). There each unit is one sample and 16 consecutive channels, transposed to [position][16
// channels], with zero padding around the input: every tap is then one aligned load and one
// multiply-add with the 16 channels' weights, for any stride, and dw's per-plane sums are the lanes
// themselves. Measured on MobileNetV2's shapes (forward + backward, one thread): 2.9x faster than the
// planes at 4x4 outputs, a quarter faster at 8x8 stride 2, even at 7x7 and slower from 8x8 stride 1 up,
// where the transposes cost more than the per-plane overhead they save.
constexpr int64_t kLanes = kBlock;

bool channels_in_lanes(const ConvShape& c) {
  return c.P * c.Q <= 32 && (c.H + 2 * c.pad) * (c.W + 2 * c.pad) <= 1024;   // and a small scratch
}

struct Lanes {
  int64_t Wp, T, blocks;            // padded input width, taps, channel blocks of 16
  int64_t padded;                   // floats of the padded input in lanes
  std::vector<int64_t> offset;      // per tap: position r·Wp + t in the padded input

  explicit Lanes(const ConvShape& c)
      : Wp(c.W + 2 * c.pad), T(c.R * c.S), blocks((c.C + kLanes - 1) / kLanes),
        padded((c.H + 2 * c.pad) * Wp * kLanes) {
    for (int64_t r = 0; r < c.R; ++r)
      for (int64_t t = 0; t < c.S; ++t) offset.push_back(r * Wp + t);
  }
  // Unit u: sample u / blocks, channels [first, first + count) with first = 16·(u mod blocks).
  int64_t sample(int64_t unit) const { return unit / blocks; }
  int64_t first(int64_t unit) const { return unit % blocks * kLanes; }
  int64_t count(const ConvShape& c, int64_t unit) const { return std::min(kLanes, c.C - first(unit)); }
};

// [blocks][T][16] weights, zero for channels past C (a tensor: 64-byte aligned like the scratch).
Tensor weights_in_lanes(const ConvShape& c, const Lanes& L, const Tensor& weight) {
  Tensor w = Tensor::zeros({L.blocks * L.T * kLanes});
  for (int64_t ch = 0; ch < c.C; ++ch)
    for (int64_t k = 0; k < L.T; ++k)
      w.data()[((ch / kLanes) * L.T + k) * kLanes + ch % kLanes] = weight.data()[ch * L.T + k];
  return w;
}

// Transposes the 16x16 matrix v[row][lane] in registers: swapping the off-diagonal blocks of 8, then of
// 4 inside those, 2 and 1.
template <int kStep, size_t... j>
[[gnu::always_inline]] inline Vec low_half(const Vec& a, const Vec& b, std::index_sequence<j...>) {
  return __builtin_shufflevector(a, b, ((j & kStep) ? kLanes + j - kStep : j)...);
}
template <int kStep, size_t... j>
[[gnu::always_inline]] inline Vec high_half(const Vec& a, const Vec& b, std::index_sequence<j...>) {
  return __builtin_shufflevector(a, b, ((j & kStep) ? kLanes + j : j + kStep)...);
}
template <int kStep>
[[gnu::always_inline]] inline void swap_blocks(Vec* v) {
  for (int i = 0; i < kLanes; ++i) {
    if (i & kStep) continue;
    const Vec a = v[i], b = v[i + kStep];
    v[i] = low_half<kStep>(a, b, std::make_index_sequence<kLanes>());
    v[i + kStep] = high_half<kStep>(a, b, std::make_index_sequence<kLanes>());
  }
}
[[gnu::always_inline]] inline void transpose(Vec* v) {
  swap_blocks<8>(v);
  swap_blocks<4>(v);
  swap_blocks<2>(v);
  swap_blocks<1>(v);
}

// Visits the positions i = h·cols + w of a rows × cols plane in order, in chunks of 16 first, and calls
// f(i, position in the lanes layout, which is first + h·stride + w).
template <class Chunk, class One>
void for_positions(int64_t rows, int64_t cols, int64_t first, int64_t stride, bool chunks, const Chunk& chunk,
                   const One& one) {
  int64_t i = 0, h = 0, w = 0;
  int64_t at[kLanes];
  if (chunks) {
    for (; i + kLanes <= rows * cols; i += kLanes) {
      for (int64_t j = 0; j < kLanes; ++j) {
        at[j] = first + h * stride + w;
        if (++w == cols) w = 0, ++h;
      }
      chunk(i, at);
    }
  }
  for (; i < rows * cols; ++i) {
    one(i, first + h * stride + w);
    if (++w == cols) w = 0, ++h;
  }
}

// out[(first + h·stride_out + w)·16 + l] = planes[l·plane_size + h·cols + w] for l < lanes: 16 positions
// of all 16 planes at a time through a register transpose, the rest one by one.
void to_lanes(const float* planes, int64_t plane_size, int64_t lanes, int64_t rows, int64_t cols, int64_t first,
              int64_t stride_out, float* out) {
  for_positions(
      rows, cols, first, stride_out, lanes == kLanes,
      [&](int64_t i, const int64_t* at) {
        Vec v[kLanes];
        for (int64_t l = 0; l < kLanes; ++l) v[l] = load(planes + l * plane_size + i);
        transpose(v);
        for (int64_t j = 0; j < kLanes; ++j) store(out + at[j] * kLanes, v[j]);
      },
      [&](int64_t i, int64_t at) {
        for (int64_t l = 0; l < lanes; ++l) out[at * kLanes + l] = planes[l * plane_size + i];
      });
}

// The inverse: planes[l·plane_size + h·cols + w] = in[(first + h·stride_in + w)·16 + l]
void from_lanes(const float* in, int64_t lanes, int64_t rows, int64_t cols, int64_t first, int64_t stride_in,
                float* planes, int64_t plane_size) {
  for_positions(
      rows, cols, first, stride_in, lanes == kLanes,
      [&](int64_t i, const int64_t* at) {
        Vec v[kLanes];
        for (int64_t j = 0; j < kLanes; ++j) v[j] = load(in + at[j] * kLanes);
        transpose(v);
        for (int64_t l = 0; l < kLanes; ++l) store(planes + l * plane_size + i, v[l]);
      },
      [&](int64_t i, int64_t at) {
        for (int64_t l = 0; l < lanes; ++l) planes[l * plane_size + i] = in[at * kLanes + l];
      });
}

// out[p·Q + q] = bias + Σ_k w[k]·in[(p·s·Wp + q·s) + offset[k]], 16 channels per vector
template <int kTaps>
void lanes_sum_n(const ConvShape& c, const Lanes& L, const float* in, const float* w, const Vec& bias, float* out) {
  const int64_t T = kTaps > 0 ? kTaps : L.T, s = c.stride;
  for (int64_t p = 0; p < c.P; ++p)
    for (int64_t q = 0; q < c.Q; ++q) {
      const float* at = in + (p * s * L.Wp + q * s) * kLanes;
      Vec acc = bias;
      for (int64_t k = 0; k < T; ++k) acc += load_aligned(w + k * kLanes) * load_aligned(at + L.offset[k] * kLanes);
      store(out + (p * c.Q + q) * kLanes, acc);
    }
}

void lanes_forward(const ConvShape& c, const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y) {
  const Lanes L(c);
  const Tensor weights = weights_in_lanes(c, L, weight);
  const int64_t HW = c.H * c.W, PQ = c.P * c.Q;
  parallel_units(c.N * L.blocks, L.padded + PQ * kLanes, [&](int64_t unit, float* in) {
    const int64_t first = L.sample(unit) * c.C + L.first(unit), count = L.count(c, unit);
    float* out = in + L.padded;
    to_lanes(x.data() + first * HW, HW, count, c.H, c.W, c.pad * L.Wp + c.pad, L.Wp, in);
    const float* w = weights.data() + unit % L.blocks * L.T * kLanes;
    Vec b = {};
    for (int64_t l = 0; l < count && bias.defined(); ++l) b[l] = bias.data()[L.first(unit) + l];
    if (L.T == 9) lanes_sum_n<9>(c, L, in, w, b, out);
    else lanes_sum_n<0>(c, L, in, w, b, out);
    from_lanes(out, count, c.P, c.Q, 0, c.Q, y.data() + first * PQ, PQ);
  });
}

// dx by adding each dy position into the taps it came from (the padded layout absorbs the border).
void lanes_backward_input(const ConvShape& c, const Tensor& dy, const Tensor& weight, Tensor& dx) {
  const Lanes L(c);
  const Tensor weights = weights_in_lanes(c, L, weight);
  const int64_t HW = c.H * c.W, PQ = c.P * c.Q, s = c.stride;
  parallel_units(c.N * L.blocks, L.padded + PQ * kLanes, [&](int64_t unit, float* grad) {
    const int64_t first = L.sample(unit) * c.C + L.first(unit), count = L.count(c, unit);
    float* g = grad + L.padded;
    to_lanes(dy.data() + first * PQ, PQ, count, c.P, c.Q, 0, c.Q, g);
    std::fill(grad, grad + L.padded, 0.0f);
    const float* w = weights.data() + unit % L.blocks * L.T * kLanes;
    for (int64_t p = 0; p < c.P; ++p)
      for (int64_t q = 0; q < c.Q; ++q) {
        const Vec gv = load_aligned(g + (p * c.Q + q) * kLanes);
        float* at = grad + (p * s * L.Wp + q * s) * kLanes;
        for (int64_t k = 0; k < L.T; ++k) {
          float* to = at + L.offset[k] * kLanes;
          store(to, load_aligned(to) + load_aligned(w + k * kLanes) * gv);
        }
      }
    from_lanes(grad, count, c.H, c.W, c.pad * L.Wp + c.pad, L.Wp, dx.data() + first * HW, HW);
  });
}

// acc[k] = Σ_positions dy·x at tap k (16 planes per vector), acc[T] = Σ dy, in position order. kTaps > 0
// keeps the sums in registers; 0 takes L.T and adds in memory.
template <int kTaps>
void lanes_dots_n(const ConvShape& c, const Lanes& L, const float* in, const float* g, float* acc) {
  const int64_t T = kTaps > 0 ? kTaps : L.T, s = c.stride;
  Vec fixed[kTaps + 1] = {};
  Vec* a = kTaps > 0 ? fixed : reinterpret_cast<Vec*>(acc);
  for (int64_t p = 0; p < c.P; ++p)
    for (int64_t q = 0; q < c.Q; ++q) {
      const Vec gv = load_aligned(g + (p * c.Q + q) * kLanes);
      const float* at = in + (p * s * L.Wp + q * s) * kLanes;
      a[T] += gv;
      for (int64_t k = 0; k < T; ++k) a[k] += gv * load_aligned(at + L.offset[k] * kLanes);
    }
  if (kTaps > 0)
    for (int64_t k = 0; k <= T; ++k) store(acc + k * kLanes, fixed[k]);
}

void lanes_weight_sums(const ConvShape& c, const Tensor& dy, const Tensor& x, float* sums) {
  const Lanes L(c);
  const int64_t HW = c.H * c.W, PQ = c.P * c.Q, T = L.T;
  parallel_units(c.N * L.blocks, L.padded + PQ * kLanes + (T + 1) * kLanes, [&](int64_t unit, float* in) {
    const int64_t first = L.sample(unit) * c.C + L.first(unit), count = L.count(c, unit);
    float* g = in + L.padded;
    to_lanes(x.data() + first * HW, HW, count, c.H, c.W, c.pad * L.Wp + c.pad, L.Wp, in);
    to_lanes(dy.data() + first * PQ, PQ, count, c.P, c.Q, 0, c.Q, g);
    float* acc = g + PQ * kLanes;
    std::fill(acc, acc + (T + 1) * kLanes, 0.0f);
    if (T == 9) lanes_dots_n<9>(c, L, in, g, acc);
    else lanes_dots_n<0>(c, L, in, g, acc);
    for (int64_t l = 0; l < count; ++l)
      for (int64_t k = 0; k <= T; ++k) sums[(first + l) * (T + 1) + k] = acc[k * kLanes + l];
  });
}

}  // namespace

bool is_depthwise(const ConvShape& c) { return c.groups == c.C && c.K == c.C; }

void depthwise_conv2d_forward(const ConvShape& c, const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y) {
  if (channels_in_lanes(c)) return lanes_forward(c, x, w, bias, y);
  const Geometry g(c);
  const int64_t HW = c.H * c.W, PQ = c.P * c.Q, planes = c.N * c.C;
  const float* xd = x.data();
  const float* wd = w.data();
  const float* bd = bias.defined() ? bias.data() : nullptr;
  float* yd = y.data();
  parallel_units(planes, g.packed_size + round_up(g.grid), [&](int64_t plane, float* packed) {
    float* out = packed + g.packed_size;
    const int64_t ch = plane % c.C;
    pack(c, g, xd + plane * HW, packed);
    shifted_sum(packed, g.offset.data(), wd + ch * g.taps, g.taps, bd ? bd[ch] : 0.0f, out, g.grid);
    float* yp = yd + plane * PQ;
    for (int64_t p = 0; p < c.P; ++p) copy(out + p * g.Wph, yp + p * c.Q, c.Q);
  });
}

void depthwise_conv2d_backward_input(const ConvShape& c, const Tensor& dy, const Tensor& w, Tensor& dx) {
  if (channels_in_lanes(c)) return lanes_backward_input(c, dy, w, dx);
  const Geometry g(c);
  const int64_t HW = c.H * c.W, PQ = c.P * c.Q, planes = c.N * c.C, s = g.s;
  // For each phase plane: the taps that land in it (as shifts back into dy's grid) and the index range
  // of its real positions; dx there is Σ_taps w·dy_grid[j − in-phase offset]. The weights are
  // reordered so that each phase's taps are adjacent.
  struct Phase {
    int64_t first_tap = 0, taps = 0;     // in the reordered weights
    int64_t begin = 0, count = 0;        // real positions [begin, begin + count) of the phase plane
  };
  std::vector<Phase> phases(s * s);
  std::vector<int64_t> order, offset;    // weight index r·S + t; start of its run in the dy buffer
  for (int64_t a = 0; a < s; ++a)
    for (int64_t b = 0; b < s; ++b) {
      Phase& ph = phases[a * s + b];
      int64_t r0, r1, q0, q1;
      if (!real_range(c.pad, c.H, s, a, r0, r1) || !real_range(c.pad, c.W, s, b, q0, q1)) continue;
      ph.begin = r0 * g.Wph + q0;
      ph.count = r1 * g.Wph + q1 + 1 - ph.begin;
      ph.first_tap = static_cast<int64_t>(order.size());
      for (int64_t r = a; r < c.R; r += s)
        for (int64_t t = b; t < c.S; t += s) {
          order.push_back(r * c.S + t);
          offset.push_back(g.front + ph.begin - ((r / s) * g.Wph + t / s));
        }
      ph.taps = static_cast<int64_t>(order.size()) - ph.first_tap;
    }
  const int64_t used = static_cast<int64_t>(order.size());
  std::vector<float> w_phased(std::max<int64_t>(c.C * used, 1));
  for (int64_t ch = 0; ch < c.C; ++ch)
    for (int64_t i = 0; i < used; ++i) w_phased[ch * used + i] = w.data()[ch * g.taps + order[i]];
  const float* dyd = dy.data();
  float* dxd = dx.data();
  parallel_units(planes, g.packed_size + g.dy_size, [&](int64_t plane, float* packed) {
    float* dy_grid = packed + g.packed_size;
    place_dy(c, g, dyd + plane * PQ, dy_grid);
    const float* wc = w_phased.data() + (plane % c.C) * used;
    for (int64_t k = 0; k < s * s; ++k) {
      const Phase& ph = phases[k];
      if (ph.count == 0) continue;
      shifted_sum(dy_grid, offset.data() + ph.first_tap, wc + ph.first_tap, ph.taps, 0.0f,
                  packed + k * g.phase_size + ph.begin, ph.count);
    }
    unpack(c, g, packed, dxd + plane * HW);
  });
}

void depthwise_conv2d_backward_weight(const ConvShape& c, const Tensor& dy, const Tensor& x, Tensor& dw,
                                      Tensor& dbias) {
  const int64_t HW = c.H * c.W, PQ = c.P * c.Q, planes = c.N * c.C, T = c.R * c.S;
  Tensor partial = Tensor::empty({planes, T + 1});   // per plane: Σ per tap, then Σ dy
  const float* dyd = dy.data();
  const float* xd = x.data();
  float* sums = partial.data();
  if (channels_in_lanes(c)) {
    lanes_weight_sums(c, dy, x, sums);
  } else {
    const Geometry g(c);
    parallel_units(planes, g.packed_size + g.dy_size, [&](int64_t plane, float* packed) {
      pack(c, g, xd + plane * HW, packed);
      place_dy(c, g, dyd + plane * PQ, packed + g.packed_size);
      tap_dots(packed + g.packed_size + g.front, packed, g.offset.data(), T, g.grid, sums + plane * (T + 1));
    });
  }
  float* dwd = dw.data();
  float* db = dbias.defined() ? dbias.data() : nullptr;
#pragma omp parallel for schedule(static)
  for (int64_t ch = 0; ch < c.C; ++ch) {
    for (int64_t k = 0; k <= T; ++k) {
      double total = 0.0;
      for (int64_t n = 0; n < c.N; ++n) total += sums[(n * c.C + ch) * (T + 1) + k];
      if (k < T) dwd[ch * T + k] = static_cast<float>(total);
      else if (db) db[ch] = static_cast<float>(total);
    }
  }
}

}  // namespace actlab::cpu
