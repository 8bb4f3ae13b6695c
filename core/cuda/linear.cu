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

// dx[N, in] = dy[N, out] · w[out, in]; column-major dxᵀ = wᵀ · dyᵀ.
void linear_input_gradient(int64_t N, int64_t in, int64_t out, const float* dy, const float* w, float* dx) {
  const float one = 1.0f, zero = 0.0f;
  check(cublasSgemm(cublas(), CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(in), static_cast<int>(N),
                    static_cast<int>(out), &one, w, static_cast<int>(in), dy, static_cast<int>(out), &zero, dx,
                    static_cast<int>(in)),
        "cublasSgemm (linear input gradient)");
}

// dw[out, in] = dy[N, out]ᵀ · x[N, in]; column-major dwᵀ = xᵀ · dy.
void linear_weight_gradient(int64_t N, int64_t in, int64_t out, const float* dy, const float* x, float* dw) {
  const float one = 1.0f, zero = 0.0f;
  check(cublasSgemm(cublas(), CUBLAS_OP_N, CUBLAS_OP_T, static_cast<int>(in), static_cast<int>(out),
                    static_cast<int>(N), &one, x, static_cast<int>(in), dy, static_cast<int>(out), &zero, dw,
                    static_cast<int>(in)),
        "cublasSgemm (linear weight gradient)");
}

void linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dx, Tensor& dw, Tensor& db) {
  const int64_t N = x.size(0), in = x.size(1), out = w.size(0);
  if (dx.defined()) linear_input_gradient(N, in, out, dy.data(), w.data(), dx.data());
  if (dw.defined()) linear_weight_gradient(N, in, out, dy.data(), x.data(), dw.data());
  if (db.defined()) {
    column_sums<<<blocks_for_warps(out), kThreads>>>(dy.data(), db.data(), N, out);
    check_launch("column_sums");
  }
}

}  // namespace actlab::cuda
