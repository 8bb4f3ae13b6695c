// Fully connected layers on the GPU: cuBLAS SGEMM (fp32, no TF32) on
// row-major data, read by cuBLAS as the column-major transposes.
#include "core/cuda/cuda_common.h"
#include "core/cuda/cuda_kernels.h"

namespace actlab::cuda {
namespace {

__global__ void add_row_bias(float* y, const float* b, int64_t rows, int64_t cols) {
  ACTLAB_GRID_STRIDE(i, rows * cols) y[i] += b[i % cols];
}

// db[j] = Σ_n dy[n, j], one warp per column: the lanes take rows lane,
// lane + 32, ... and the warp adds them in a fixed tree: deterministic.
__global__ void column_sums(const float* dy, float* db, int64_t rows, int64_t cols) {
  ACTLAB_WARPS(j, lane, cols) {
    double sum = 0.0;
    for (int64_t n = lane; n < rows; n += 32) sum += dy[n * cols + j];
    sum = warp_sum(sum);
    if (lane == 0) db[j] = static_cast<float>(sum);
  }
}

}  // namespace

// y[N, out] = x[N, in] · w[out, in]ᵀ + b. Column-major: yᵀ = (wᵀ)ᵀ · xᵀ.
void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  const int N = static_cast<int>(x.size(0)), in = static_cast<int>(x.size(1)), out = static_cast<int>(w.size(0));
  const float one = 1.0f, zero = 0.0f;
  check(cublasSgemm(cublas(), CUBLAS_OP_T, CUBLAS_OP_N, out, N, in, &one, w.data(), in, x.data(), in, &zero, y.data(),
                    out),
        "cublasSgemm (linear forward)");
  if (b.defined()) {
    add_row_bias<<<blocks_for(y.numel()), kThreads>>>(y.data(), b.data(), N, out);
    check_launch("add_row_bias");
  }
}

void linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dx, Tensor& dw, Tensor& db) {
  const int N = static_cast<int>(x.size(0)), in = static_cast<int>(x.size(1)), out = static_cast<int>(w.size(0));
  const float one = 1.0f, zero = 0.0f;
  if (dx.defined())  // dx = dy · w; column-major dxᵀ[in, N] = wᵀ[in, out] · dyᵀ[out, N]
    check(cublasSgemm(cublas(), CUBLAS_OP_N, CUBLAS_OP_N, in, N, out, &one, w.data(), in, dy.data(), out, &zero,
                      dx.data(), in),
          "cublasSgemm (linear input gradient)");
  if (dw.defined())  // dw = dyᵀ · x; column-major dwᵀ[in, out] = xᵀ[in, N] · dy[N, out]
    check(cublasSgemm(cublas(), CUBLAS_OP_N, CUBLAS_OP_T, in, out, N, &one, x.data(), in, dy.data(), out, &zero,
                      dw.data(), in),
          "cublasSgemm (linear weight gradient)");
  if (db.defined()) {
    column_sums<<<blocks_for_warps(out), kThreads>>>(dy.data(), db.data(), N, out);
    check_launch("column_sums");
  }
}

}  // namespace actlab::cuda
