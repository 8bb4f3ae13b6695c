// Depthwise 2-D convolution on the CPU (groups == C == K, one filter per channel, as in MobileNetV2),
// forward and both backwards, one (sample, channel) plane per OpenMP iteration. conv2d.cpp sends these
// shapes here: im2col + GEMM would multiply with an inner dimension of only R·S.
//
// Each plane is copied into a zero-padded, phase-split scratch ("packed"): with stride s the padded
// plane xp splits into s·s phase planes, phase (a, b) holding xp[a + s·i][b + s·j] in rows of Wph.
// Then every tap (r, t) reads one contiguous run, and the output, laid out in rows of Wph too (the
// "grid"; the Wph − Q columns past Q are computed and dropped), is a short sum of shifted vectors:
//   grid[i] = bias + Σ_(r,t) w[r][t] · packed[offset(r, t) + i],
//   offset(r, t) = phase(r mod s, t mod s) + (r div s)·Wph + (t div s).
// The backwards are the adjoints of that same sum: dx gathers dy (placed on a zero grid) into each
// phase plane, dw is a dot product of dy's grid with each tap's run. Loops run over whole blocks of
// kBlock floats (the scratch has slack), so the compiler vectorises them without remainders.
// dw and dbias: per plane in float, then across samples in double in sample order, so the result does
// not depend on the thread count.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu/cpu_kernels.h"

namespace actlab::cpu {
namespace {

constexpr int64_t kBlock = 16;

int64_t round_up(int64_t n) { return (n + kBlock - 1) / kBlock * kBlock; }

// kBlock floats in one value (a GCC/Clang vector extension; one zmm register with AVX-512, two ymm with
// AVX2). Written out because GCC 12 vectorises the outer loop of the plain block-of-16 form, with
// gathers, instead of the 16 lanes. Vec loads and stores need only float alignment and, unlike
// memcpy, let the compiler keep offsets and weights in registers across the stores.
typedef float Vec __attribute__((vector_size(kBlock * sizeof(float)), aligned(alignof(float))));
Vec load(const float* p) { return *reinterpret_cast<const Vec*>(p); }
void store(float* p, Vec v) { *reinterpret_cast<Vec*>(p) = v; }
float lane_sum(Vec v) {   // lanes in order: a fixed rounding
  float total = 0.0f;
  for (int64_t j = 0; j < kBlock; ++j) total += v[j];
  return total;
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

// to[k] = from[k] for k < count
void copy(const float* __restrict from, float* __restrict to, int64_t count) {
  int64_t k = 0;
  for (; k + kBlock <= count; k += kBlock) store(to + k, load(from + k));
  for (; k < count; ++k) to[k] = from[k];
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

// Per-thread scratch: one zeroed slice per thread of `floats` each (64-byte multiples). Padding and
// dropped columns are never written afterwards, so they stay zero from plane to plane.
struct Scratch {
  Tensor buffer;
  int64_t stride;
  explicit Scratch(int64_t floats) : stride((floats + 15) / 16 * 16) {
    buffer = Tensor::zeros({static_cast<int64_t>(omp_get_max_threads()) * stride});
  }
  float* get() const { return buffer.data() + omp_get_thread_num() * stride; }
};

// Places dy's P×Q plane on the zeroed grid (rows of Wph) after `front` zeros.
void place_dy(const ConvShape& c, const Geometry& g, const float* dy, float* grid) {
  for (int64_t p = 0; p < c.P; ++p) copy(dy + p * c.Q, grid + g.front + p * g.Wph, c.Q);
}

}  // namespace

bool is_depthwise(const ConvShape& c) { return c.groups == c.C && c.K == c.C; }

void depthwise_conv2d_forward(const ConvShape& c, const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y) {
  const Geometry g(c);
  const int64_t HW = c.H * c.W, PQ = c.P * c.Q, planes = c.N * c.C;
  const Scratch scratch(g.packed_size + round_up(g.grid));
  const float* xd = x.data();
  const float* wd = w.data();
  const float* bd = bias.defined() ? bias.data() : nullptr;
  float* yd = y.data();
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const int64_t ch = plane % c.C;
    float* packed = scratch.get();
    float* out = packed + g.packed_size;
    pack(c, g, xd + plane * HW, packed);
    shifted_sum(packed, g.offset.data(), wd + ch * g.taps, g.taps, bd ? bd[ch] : 0.0f, out, g.grid);
    float* yp = yd + plane * PQ;
    for (int64_t p = 0; p < c.P; ++p) copy(out + p * g.Wph, yp + p * c.Q, c.Q);
  }
}

void depthwise_conv2d_backward_input(const ConvShape& c, const Tensor& dy, const Tensor& w, Tensor& dx) {
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
  const Scratch scratch(g.packed_size + g.dy_size);
  const float* dyd = dy.data();
  float* dxd = dx.data();
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* wc = w_phased.data() + (plane % c.C) * used;
    float* packed = scratch.get();
    float* dy_grid = packed + g.packed_size;
    place_dy(c, g, dyd + plane * PQ, dy_grid);
    for (int64_t k = 0; k < s * s; ++k) {
      const Phase& ph = phases[k];
      if (ph.count == 0) continue;
      shifted_sum(dy_grid, offset.data() + ph.first_tap, wc + ph.first_tap, ph.taps, 0.0f,
                  packed + k * g.phase_size + ph.begin, ph.count);
    }
    unpack(c, g, packed, dxd + plane * HW);
  }
}

void depthwise_conv2d_backward_weight(const ConvShape& c, const Tensor& dy, const Tensor& x, Tensor& dw,
                                      Tensor& dbias) {
  const Geometry g(c);
  const int64_t HW = c.H * c.W, PQ = c.P * c.Q, planes = c.N * c.C, T = g.taps;
  const Scratch scratch(g.packed_size + g.dy_size);
  Tensor partial = Tensor::empty({planes, T + 1});   // per plane: Σ per tap, then Σ dy
  const float* dyd = dy.data();
  const float* xd = x.data();
  float* sums = partial.data();
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < planes; ++plane) {
    float* packed = scratch.get();
    float* dy_grid = packed + g.packed_size;
    pack(c, g, xd + plane * HW, packed);
    place_dy(c, g, dyd + plane * PQ, dy_grid);
    tap_dots(dy_grid + g.front, packed, g.offset.data(), T, g.grid, sums + plane * (T + 1));
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
