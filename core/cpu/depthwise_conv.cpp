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

struct Geometry {
  int64_t s;                      // stride
  int64_t Wph, phase_size;        // phase plane row length and size (Hph·Wph)
  int64_t taps;                   // R·S
  std::vector<int64_t> offset;    // per tap r·S + t: its run's start in the packed input
  int64_t grid;                   // flattened output grid, (P − 1)·Wph + Q
  int64_t packed_size;            // the packed input (or dx in packed layout), with slack
  int64_t front;                  // zeros before dy's grid: the largest in-phase shift
  int64_t dy_size;                // dy's grid with its zeros before and after

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

// Calls run(at, to, count) for every stretch of a row's columns that falls in one phase plane:
// plane element at + s·k sits at packed element to + k, for k < count. The padding is in no run.
template <class Run>
void for_each_run(const ConvShape& c, const Geometry& g, Run run) {
  const int64_t s = g.s;
  for (int64_t h = 0; h < c.H; ++h) {
    const int64_t hp = h + c.pad;
    for (int64_t b = 0; b < s; ++b) {
      const int64_t w0 = ((b - c.pad) % s + s) % s;   // first column of this phase
      if (w0 >= c.W) continue;
      run(h * c.W + w0, ((hp % s) * s + b) * g.phase_size + (hp / s) * g.Wph + (w0 + c.pad) / s,
          (c.W - 1 - w0) / s + 1);
    }
  }
}

// to[k] = from[step·k]; stride 1 and 2 known at compile time, so the even/odd split vectorises.
void gather(const float* from, int64_t step, float* to, int64_t count) {
  if (step == 1) std::memcpy(to, from, count * sizeof(float));
  else if (step == 2) for (int64_t k = 0; k < count; ++k) to[k] = from[2 * k];
  else for (int64_t k = 0; k < count; ++k) to[k] = from[step * k];
}

// to[step·k] = from[k]
void scatter(const float* from, int64_t step, float* to, int64_t count) {
  if (step == 1) std::memcpy(to, from, count * sizeof(float));
  else if (step == 2) for (int64_t k = 0; k < count; ++k) to[2 * k] = from[k];
  else for (int64_t k = 0; k < count; ++k) to[step * k] = from[k];
}

void pack(const ConvShape& c, const Geometry& g, const float* x, float* packed) {
  for_each_run(c, g, [&](int64_t at, int64_t to, int64_t count) { gather(x + at, g.s, packed + to, count); });
}

void unpack(const ConvShape& c, const Geometry& g, const float* packed, float* x) {
  for_each_run(c, g, [&](int64_t at, int64_t to, int64_t count) { scatter(packed + to, g.s, x + at, count); });
}

// out[i] = init + Σ_k coef[k]·src[offset[k] + i] over whole blocks covering [0, n). kTaps > 0 fixes
// the tap count at compile time (coefficients then stay in registers); 0 takes `taps`.
template <int kTaps>
void shifted_sum_n(const float* src, const int64_t* offset, const float* coef, int64_t taps, float init, float* out,
                   int64_t n) {
  const int64_t T = kTaps > 0 ? kTaps : taps;
  for (int64_t i = 0; i < n; i += kBlock) {
    float acc[kBlock];
    for (int64_t j = 0; j < kBlock; ++j) acc[j] = init;
    for (int64_t k = 0; k < T; ++k) {
      const float ck = coef[k];
      const float* in = src + offset[k] + i;
      for (int64_t j = 0; j < kBlock; ++j) acc[j] += ck * in[j];
    }
    for (int64_t j = 0; j < kBlock; ++j) out[i + j] = acc[j];
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
// blocks covering [0, n) (dy is zero past the grid and in its dropped columns). Lanes are added in a
// fixed order.
template <int kTaps>
void tap_dots_n(const float* dy, const float* packed, const int64_t* offset, int64_t taps, int64_t n, float* sums) {
  constexpr int64_t kLanes = 8;
  const int64_t T = kTaps > 0 ? kTaps : taps;
  if (kTaps == 0) {
    // Any tap count: one pass per tap.
    for (int64_t k = 0; k <= T; ++k) {
      float acc[kLanes] = {};
      const float* in = k < T ? packed + offset[k] : nullptr;
      for (int64_t i = 0; i < n; i += kLanes)
        for (int64_t j = 0; j < kLanes; ++j) acc[j] += dy[i + j] * (in ? in[i + j] : 1.0f);
      float total = 0.0f;
      for (int64_t j = 0; j < kLanes; ++j) total += acc[j];
      sums[k] = total;
    }
    return;
  }
  float acc[kTaps + 1][kLanes] = {};
  for (int64_t i = 0; i < n; i += kLanes) {
    for (int64_t j = 0; j < kLanes; ++j) acc[kTaps][j] += dy[i + j];
    for (int64_t k = 0; k < kTaps; ++k) {
      const float* in = packed + offset[k] + i;
      for (int64_t j = 0; j < kLanes; ++j) acc[k][j] += dy[i + j] * in[j];
    }
  }
  for (int64_t k = 0; k <= kTaps; ++k) {
    float total = 0.0f;
    for (int64_t j = 0; j < kLanes; ++j) total += acc[k][j];
    sums[k] = total;
  }
}

void tap_dots(const float* dy, const float* packed, const int64_t* offset, int64_t taps, int64_t n, float* sums) {
  switch (taps) {
    case 9: return tap_dots_n<9>(dy, packed, offset, taps, n, sums);
    default: return tap_dots_n<0>(dy, packed, offset, taps, n, sums);
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
  for (int64_t p = 0; p < c.P; ++p) std::memcpy(grid + g.front + p * g.Wph, dy + p * c.Q, c.Q * sizeof(float));
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
    for (int64_t p = 0; p < c.P; ++p) std::memcpy(yp + p * c.Q, out + p * g.Wph, c.Q * sizeof(float));
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
