// 2-D convolution on the CPU, by kind: depthwise ones (groups == C == K) go to their own kernel
// (depthwise_conv.cpp), those with a spatial kernel or a stride to oneDNN (dnnl_conv.cpp), and 1×1
// stride-1 ones straight to OpenBLAS GEMM here: per sample, there the input planes already are the
// GEMM's matrix, and oneDNN's layout reorders would cost more than the arithmetic. Samples run in
// parallel (one single-threaded GEMM per thread); weight gradients are summed per thread and reduced in
// thread order, so a fixed thread count gives bit-identical results.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "core/cpu/cpu_kernels.h"
#include "core/cpu/lane_sums.h"

namespace actlab::cpu {
namespace {

bool is_pointwise(const ConvShape& s) { return s.R == 1 && s.S == 1 && s.stride == 1 && s.pad == 0; }

void pointwise_forward(const ConvShape& s, const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y) {
  const int64_t G = s.groups, Cg = s.C / G, Kg = s.K / G, PQ = s.P * s.Q;
  const float* xd = x.data();
  const float* wd = w.data();
  const float* bd = bias.defined() ? bias.data() : nullptr;
  float* yd = y.data();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < s.N; ++n) {
    for (int64_t g = 0; g < G; ++g) {
      const float* xg = xd + (n * s.C + g * Cg) * PQ;
      float* yg = yd + (n * s.K + g * Kg) * PQ;
      gemm(false, false, Kg, PQ, Cg, 1.0f, wd + g * Kg * Cg, Cg, xg, PQ, 0.0f, yg, PQ);
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

void pointwise_backward_input(const ConvShape& s, const Tensor& dy, const Tensor& w, Tensor& dx) {
  const int64_t G = s.groups, Cg = s.C / G, Kg = s.K / G, PQ = s.P * s.Q;
  const float* dyd = dy.data();
  const float* wd = w.data();
  float* dxd = dx.data();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < s.N; ++n) {
    for (int64_t g = 0; g < G; ++g) {
      const float* dyg = dyd + (n * s.K + g * Kg) * PQ;
      float* dxg = dxd + (n * s.C + g * Cg) * PQ;
      gemm(true, false, Cg, PQ, Kg, 1.0f, wd + g * Kg * Cg, Cg, dyg, PQ, 0.0f, dxg, PQ);
    }
  }
}

void pointwise_backward_weight(const ConvShape& s, const Tensor& dy, const Tensor& x, Tensor& dw, Tensor& dbias) {
  const int64_t G = s.groups, Cg = s.C / G, Kg = s.K / G, PQ = s.P * s.Q;
  const int threads = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), std::max<int64_t>(s.N, 1)));
  // Per-thread partial sums; thread t handles a fixed, contiguous range of samples.
  const int64_t wsize = s.K * Cg;
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
        const float* xg = xd + (n * s.C + g * Cg) * PQ;
        const float* dyg = dyd + (n * s.K + g * Kg) * PQ;
        gemm(false, true, Kg, Cg, PQ, 1.0f, dyg, PQ, xg, PQ, 1.0f, acc + g * Kg * Cg, Cg);
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

}  // namespace

void conv2d_forward(const ConvShape& s, const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y) {
  if (is_depthwise(s)) return depthwise_conv2d_forward(s, x, w, bias, y);
  if (!is_pointwise(s)) return dnnl_conv2d_forward(s, x, w, bias, y);
  pointwise_forward(s, x, w, bias, y);
}

void conv2d_backward(const ConvShape& s, const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dx, Tensor& dw,
                     Tensor& dbias) {
  if (!is_depthwise(s) && !is_pointwise(s)) return dnnl_conv2d_backward(s, dy, x, w, dx, dw, dbias);
  if (dx.defined()) {
    if (is_depthwise(s)) depthwise_conv2d_backward_input(s, dy, w, dx);
    else pointwise_backward_input(s, dy, w, dx);
  }
  if (dw.defined()) {
    if (is_depthwise(s)) depthwise_conv2d_backward_weight(s, dy, x, dw, dbias);
    else pointwise_backward_weight(s, dy, x, dw, dbias);
  }
}

}  // namespace actlab::cpu
