// 2-D convolution on the CPU: im2col + OpenBLAS GEMM per sample and group,
// 1×1 stride-1 convolutions straight to GEMM, width-keeping stride-1 ones
// through whole-plane shifts. Depthwise ones (groups == C == K) go to their own
// kernel, depthwise_conv.cpp. Samples run in parallel (one single-threaded GEMM
// per thread); weight gradients are summed per thread and reduced in thread
// order, so a fixed thread count gives bit-identical results.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu/cpu_kernels.h"
#include "core/cpu/lane_sums.h"

namespace actlab::cpu {
namespace {

bool is_pointwise(const ConvShape& s) { return s.R == 1 && s.S == 1 && s.stride == 1 && s.pad == 0; }

// col[(c·R + r)·S + s][p·Q + q] = x[c][p·stride − pad + r][q·stride − pad + s] (0 outside)
void im2col(const ConvShape& s, const float* x, int64_t channels, float* col) {
  const int64_t P = s.P, Q = s.Q;
  for (int64_t c = 0; c < channels; ++c) {
    const float* xc = x + c * s.H * s.W;
    for (int64_t r = 0; r < s.R; ++r) {
      for (int64_t t = 0; t < s.S; ++t) {
        float* row = col + ((c * s.R + r) * s.S + t) * P * Q;
        // Output columns q whose input column lands inside [0, W).
        const int64_t off = t - s.pad;
        int64_t q_begin = 0, q_end = Q;
        while (q_begin < Q && q_begin * s.stride + off < 0) ++q_begin;
        while (q_end > q_begin && (q_end - 1) * s.stride + off >= s.W) --q_end;
        for (int64_t p = 0; p < P; ++p) {
          float* out = row + p * Q;
          const int64_t h = p * s.stride - s.pad + r;
          if (h < 0 || h >= s.H) {
            std::memset(out, 0, Q * sizeof(float));
            continue;
          }
          const float* in = xc + h * s.W + off;
          std::fill(out, out + q_begin, 0.0f);
          if (s.stride == 1) {
            std::memcpy(out + q_begin, in + q_begin, (q_end - q_begin) * sizeof(float));
          } else {
            for (int64_t q = q_begin; q < q_end; ++q) out[q] = in[q * s.stride];
          }
          std::fill(out + q_end, out + Q, 0.0f);
        }
      }
    }
  }
}

// The adjoint of im2col: dx[c][h][w] += col[...] (dx must be zeroed first).
void col2im(const ConvShape& s, const float* col, int64_t channels, float* dx) {
  const int64_t P = s.P, Q = s.Q;
  for (int64_t c = 0; c < channels; ++c) {
    float* dxc = dx + c * s.H * s.W;
    for (int64_t r = 0; r < s.R; ++r) {
      for (int64_t t = 0; t < s.S; ++t) {
        const float* row = col + ((c * s.R + r) * s.S + t) * P * Q;
        const int64_t off = t - s.pad;
        int64_t q_begin = 0, q_end = Q;
        while (q_begin < Q && q_begin * s.stride + off < 0) ++q_begin;
        while (q_end > q_begin && (q_end - 1) * s.stride + off >= s.W) --q_end;
        for (int64_t p = 0; p < P; ++p) {
          const int64_t h = p * s.stride - s.pad + r;
          if (h < 0 || h >= s.H) continue;
          const float* in = row + p * Q;
          float* out = dxc + h * s.W + off;
          if (s.stride == 1) {
            for (int64_t q = q_begin; q < q_end; ++q) out[q] += in[q];
          } else {
            for (int64_t q = q_begin; q < q_end; ++q) out[q * s.stride] += in[q];
          }
        }
      }
    }
  }
}

// Stride-1 convolutions that keep the width (S = 2·pad + 1, so Q == W, as in
// every 3×3 pad-1 layer) move whole planes: the im2col row of tap (r, t) is
// the input plane shifted by (r − pad)·W + (t − pad), with the columns that
// wrap around a row edge set to zero. One long copy (or add) per tap instead
// of one short one per output row.
bool shifts_planes(const ConvShape& s) { return s.stride == 1 && s.Q == s.W && s.P == s.H; }

struct Tap {
  int64_t p0, p1, q0, q1;   // output rows and columns that read inside the plane
  int64_t begin, end;       // the flat range from the first to the last of them
  int64_t offset;           // input index − output index
  bool empty() const { return p0 >= p1 || q0 >= q1; }
};

Tap tap(const ConvShape& s, int64_t r, int64_t t) {
  Tap k;
  k.p0 = std::max<int64_t>(0, s.pad - r);
  k.p1 = std::min<int64_t>(s.P, s.H + s.pad - r);
  k.q0 = std::max<int64_t>(0, s.pad - t);
  k.q1 = std::min<int64_t>(s.Q, s.W + s.pad - t);
  k.begin = k.p0 * s.Q + k.q0;
  k.end = (k.p1 - 1) * s.Q + k.q1;
  k.offset = (r - s.pad) * s.W + (t - s.pad);
  return k;
}

// Zeroes row[p·Q + q] for the wrapped columns (q < q0 or q ≥ q1) of rows p0..p1−1.
void zero_wrapped(const ConvShape& s, const Tap& k, float* row) {
  for (int64_t p = k.p0; p < k.p1; ++p) {
    float* line = row + p * s.Q;
    for (int64_t q = 0; q < k.q0; ++q) line[q] = 0.0f;
    for (int64_t q = k.q1; q < s.Q; ++q) line[q] = 0.0f;
  }
}

void im2col_shift(const ConvShape& s, const float* x, int64_t channels, float* col) {
  const int64_t PQ = s.P * s.Q;
  for (int64_t c = 0; c < channels; ++c) {
    const float* xc = x + c * s.H * s.W;
    for (int64_t r = 0; r < s.R; ++r) {
      for (int64_t t = 0; t < s.S; ++t) {
        float* row = col + ((c * s.R + r) * s.S + t) * PQ;
        const Tap k = tap(s, r, t);
        if (k.empty()) {
          std::memset(row, 0, PQ * sizeof(float));
          continue;
        }
        std::memset(row, 0, k.begin * sizeof(float));
        std::memcpy(row + k.begin, xc + k.begin + k.offset, (k.end - k.begin) * sizeof(float));
        std::memset(row + k.end, 0, (PQ - k.end) * sizeof(float));
        zero_wrapped(s, k, row);
      }
    }
  }
}

// The adjoint: dx[c] += shifted rows. The wrapped entries of each row are
// zeroed first (col is scratch), so the one long add puts nothing where it
// must not; every index it touches lies inside the plane.
void col2im_shift(const ConvShape& s, float* col, int64_t channels, float* dx) {
  const int64_t PQ = s.P * s.Q;
  for (int64_t c = 0; c < channels; ++c) {
    float* dxc = dx + c * s.H * s.W;
    for (int64_t r = 0; r < s.R; ++r) {
      for (int64_t t = 0; t < s.S; ++t) {
        float* row = col + ((c * s.R + r) * s.S + t) * PQ;
        const Tap k = tap(s, r, t);
        if (k.empty()) continue;
        zero_wrapped(s, k, row);
        float* out = dxc + k.offset;
        for (int64_t i = k.begin; i < k.end; ++i) out[i] += row[i];
      }
    }
  }
}

// One scratch buffer per thread, sized for one group's im2col matrix.
struct Scratch {
  std::vector<Tensor> buffers;
  Scratch(int threads, int64_t floats) {
    for (int i = 0; i < threads; ++i) buffers.push_back(Tensor::empty({std::max<int64_t>(floats, 1)}));
  }
  float* get() { return buffers[omp_get_thread_num()].data(); }
};

}  // namespace

void conv2d_forward(const ConvShape& s, const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y) {
  if (is_depthwise(s)) return depthwise_conv2d_forward(s, x, w, bias, y);
  const int64_t G = s.groups, Cg = s.C / G, Kg = s.K / G, PQ = s.P * s.Q, CRS = Cg * s.R * s.S;
  const bool pointwise = is_pointwise(s);
  const int threads = omp_get_max_threads();
  Scratch scratch(pointwise ? 0 : threads, pointwise ? 0 : CRS * PQ);
  const float* xd = x.data();
  const float* wd = w.data();
  const float* bd = bias.defined() ? bias.data() : nullptr;
  float* yd = y.data();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < s.N; ++n) {
    for (int64_t g = 0; g < G; ++g) {
      const float* xg = xd + (n * s.C + g * Cg) * s.H * s.W;
      float* yg = yd + (n * s.K + g * Kg) * PQ;
      const float* col = xg;
      if (!pointwise) {
        float* buffer = scratch.get();
        if (shifts_planes(s)) im2col_shift(s, xg, Cg, buffer);
        else im2col(s, xg, Cg, buffer);
        col = buffer;
      }
      gemm(false, false, Kg, PQ, CRS, 1.0f, wd + g * Kg * CRS, CRS, col, PQ, 0.0f, yg, PQ);
      if (bd) {
        for (int64_t k = 0; k < Kg; ++k) {
          const float b = bd[g * Kg + k];
          float* row = yg + k * PQ;
          for (int64_t i = 0; i < PQ; ++i) row[i] += b;
        }
      }
    }
  }
}

void conv2d_backward_input(const ConvShape& s, const Tensor& dy, const Tensor& w, Tensor& dx) {
  if (is_depthwise(s)) return depthwise_conv2d_backward_input(s, dy, w, dx);
  const int64_t G = s.groups, Cg = s.C / G, Kg = s.K / G, PQ = s.P * s.Q, CRS = Cg * s.R * s.S;
  const bool pointwise = is_pointwise(s);
  const int threads = omp_get_max_threads();
  Scratch scratch(pointwise ? 0 : threads, pointwise ? 0 : CRS * PQ);
  const float* dyd = dy.data();
  const float* wd = w.data();
  float* dxd = dx.data();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < s.N; ++n) {
    for (int64_t g = 0; g < G; ++g) {
      const float* dyg = dyd + (n * s.K + g * Kg) * PQ;
      float* dxg = dxd + (n * s.C + g * Cg) * s.H * s.W;
      if (pointwise) {
        gemm(true, false, CRS, PQ, Kg, 1.0f, wd + g * Kg * CRS, CRS, dyg, PQ, 0.0f, dxg, PQ);
        continue;
      }
      float* dcol = scratch.get();
      gemm(true, false, CRS, PQ, Kg, 1.0f, wd + g * Kg * CRS, CRS, dyg, PQ, 0.0f, dcol, PQ);
      std::memset(dxg, 0, Cg * s.H * s.W * sizeof(float));
      if (shifts_planes(s)) col2im_shift(s, dcol, Cg, dxg);
      else col2im(s, dcol, Cg, dxg);
    }
  }
}

void conv2d_backward_weight(const ConvShape& s, const Tensor& dy, const Tensor& x, Tensor& dw, Tensor& dbias) {
  if (is_depthwise(s)) return depthwise_conv2d_backward_weight(s, dy, x, dw, dbias);
  const int64_t G = s.groups, Cg = s.C / G, Kg = s.K / G, PQ = s.P * s.Q, CRS = Cg * s.R * s.S;
  const bool pointwise = is_pointwise(s);
  const int threads = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), std::max<int64_t>(s.N, 1)));
  Scratch scratch(pointwise ? 0 : threads, pointwise ? 0 : CRS * PQ);
  // Per-thread partial sums; thread t handles a fixed, contiguous range of samples.
  const int64_t wsize = s.K * CRS;
  Tensor partial = Tensor::zeros({threads, wsize});
  const float* dyd = dy.data();
  const float* xd = x.data();
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const int64_t begin = s.N * t / threads, end = s.N * (t + 1) / threads;
    float* acc = partial.data() + t * wsize;
    for (int64_t n = begin; n < end; ++n) {
      for (int64_t g = 0; g < G; ++g) {
        const float* xg = xd + (n * s.C + g * Cg) * s.H * s.W;
        const float* dyg = dyd + (n * s.K + g * Kg) * PQ;
        const float* col = xg;
        if (!pointwise) {
          float* buffer = scratch.get();
          if (shifts_planes(s)) im2col_shift(s, xg, Cg, buffer);
          else im2col(s, xg, Cg, buffer);
          col = buffer;
        }
        gemm(false, true, Kg, CRS, PQ, 1.0f, dyg, PQ, col, PQ, 1.0f, acc + g * Kg * CRS, CRS);
      }
    }
  }
  float* dwd = dw.data();
  std::memcpy(dwd, partial.data(), wsize * sizeof(float));
  for (int t = 1; t < threads; ++t) {
    const float* p = partial.data() + t * wsize;
    for (int64_t i = 0; i < wsize; ++i) dwd[i] += p[i];
  }
  if (dbias.defined()) {
    float* db = dbias.data();
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < s.K; ++k) {
      LaneSums sums;
      for (int64_t n = 0; n < s.N; ++n) {
        const float* row = dyd + (n * s.K + k) * PQ;
        sums.add(PQ, [row](int64_t i) { return static_cast<double>(row[i]); });
      }
      db[k] = static_cast<float>(sums.total());
    }
  }
}

}  // namespace actlab::cpu
