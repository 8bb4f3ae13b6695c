// Fully connected layer on the CPU: one GEMM each way.
#include "core/cpu/cpu_kernels.h"

namespace actlab::cpu {

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  const int64_t N = x.size(0), in = x.size(1), out = w.size(0);
  float* yd = y.data();
  if (b.defined()) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < out; ++o) yd[n * out + o] = b.data()[o];
  }
  gemm(false, true, N, out, in, 1.0f, x.data(), in, w.data(), in, b.defined() ? 1.0f : 0.0f, yd, out);
}

void linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dx, Tensor& dw, Tensor& db) {
  const int64_t N = x.size(0), in = x.size(1), out = w.size(0);
  if (dx.defined()) gemm(false, false, N, in, out, 1.0f, dy.data(), out, w.data(), in, 0.0f, dx.data(), in);
  gemm(true, false, out, in, N, 1.0f, dy.data(), out, x.data(), in, 0.0f, dw.data(), in);
  if (db.defined()) {
    for (int64_t o = 0; o < out; ++o) {
      double sum = 0.0;
      for (int64_t n = 0; n < N; ++n) sum += dy.data()[n * out + o];
      db.data()[o] = static_cast<float>(sum);
    }
  }
}

}  // namespace actlab::cpu
