// Max and average pooling on the CPU, one (sample, channel) plane per task.
#include "core/cpu/cpu_kernels.h"
#include "core/pool_math.h"

namespace actlab::cpu {

void max_pool2d_forward(const PoolShape& s, const Tensor& x, Tensor& y, Tensor& argmax) {
  const float* xd = x.data();
  float* yd = y.data();
  // argmax holds the flat index inside the input plane, stored as float
  // (exact up to 2^24 positions, far beyond any plane here).
  float* ad = argmax.data();
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < s.N * s.C; ++plane) {
    const float* in = xd + plane * s.H * s.W;
    for (int64_t p = 0; p < s.P; ++p) {
      for (int64_t q = 0; q < s.Q; ++q) {
        int64_t where;
        const float best = pooling::max_window(s, in, p, q, where);
        yd[(plane * s.P + p) * s.Q + q] = best;
        ad[(plane * s.P + p) * s.Q + q] = static_cast<float>(where);
      }
    }
  }
}

void max_pool2d_backward(const PoolShape& s, const Tensor& dy, const Tensor& argmax, Tensor& dx) {
  dx.zero_();
  const float* dyd = dy.data();
  const float* ad = argmax.data();
  float* dxd = dx.data();
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < s.N * s.C; ++plane) {
    float* out = dxd + plane * s.H * s.W;
    for (int64_t i = 0; i < s.P * s.Q; ++i) out[static_cast<int64_t>(ad[plane * s.P * s.Q + i])] += dyd[plane * s.P * s.Q + i];
  }
}

void avg_pool2d_forward(const PoolShape& s, const Tensor& x, Tensor& y) {
  const float* xd = x.data();
  float* yd = y.data();
  const float inv = 1.0f / static_cast<float>(s.kernel * s.kernel);
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < s.N * s.C; ++plane) {
    const float* in = xd + plane * s.H * s.W;
    for (int64_t p = 0; p < s.P; ++p) {
      for (int64_t q = 0; q < s.Q; ++q) {
        const float sum = pooling::sum_window(s, in, p, q);
        yd[(plane * s.P + p) * s.Q + q] = sum * inv;
      }
    }
  }
}

void avg_pool2d_backward(const PoolShape& s, const Tensor& dy, Tensor& dx) {
  dx.zero_();
  const float* dyd = dy.data();
  float* dxd = dx.data();
  const float inv = 1.0f / static_cast<float>(s.kernel * s.kernel);
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < s.N * s.C; ++plane) {
    float* out = dxd + plane * s.H * s.W;
    for (int64_t p = 0; p < s.P; ++p) {
      for (int64_t q = 0; q < s.Q; ++q) {
        const float g = dyd[(plane * s.P + p) * s.Q + q] * inv;
        for (int r = 0; r < s.kernel; ++r) {
          const int64_t h = p * s.stride - s.pad + r;
          if (h < 0 || h >= s.H) continue;
          for (int t = 0; t < s.kernel; ++t) {
            const int64_t w = q * s.stride - s.pad + t;
            if (w >= 0 && w < s.W) out[h * s.W + w] += g;
          }
        }
      }
    }
  }
}

}  // namespace actlab::cpu
