// The CPU row of the kernel table, thread and determinism settings, cuDNN's
// element limit, and the table lookup.
#include <cblas.h>
#include <omp.h>

#include <cstdint>
#include <limits>

#include "core/cpu/cpu_kernels.h"
#include "core/error.h"

namespace actlab {

const Kernels& cpu_kernels() {
  static const Kernels table{
      cpu::conv2d_forward,      cpu::conv2d_backward,
      cpu::batch_norm_train,    cpu::batch_norm_eval,       cpu::batch_norm_backward,
      cpu::linear_forward,      cpu::linear_backward,       cpu::max_pool2d_forward,
      cpu::max_pool2d_backward, cpu::avg_pool2d_forward,    cpu::avg_pool2d_backward,
      cpu::unary_forward,       cpu::unary_backward,        cpu::binary_forward,
      cpu::affine_scalar,       cpu::sum_to,                cpu::mean_hw_forward,
      cpu::mean_hw_backward,    cpu::shortcut_a_forward,    cpu::shortcut_a_backward,
      cpu::cross_entropy_forward, cpu::cross_entropy_backward,
      cpu::sgd_step,            cpu::all_finite,
  };
  return table;
}

const Kernels& kernels(Device device) {
  if (device == Device::cpu) return cpu_kernels();
#ifdef ACTLAB_HAVE_CUDA
  return cuda_kernels();
#else
  fail("--device cuda: this actlab was built without CUDA (nvcc and cuDNN were not found, or ACTLAB_CUDA=OFF)");
#endif
}

namespace {
bool deterministic_algorithms = false;
int64_t cudnn_limit = std::numeric_limits<int32_t>::max();
}  // namespace

void set_deterministic(bool on) { deterministic_algorithms = on; }
bool deterministic() { return deterministic_algorithms; }

namespace {
ConvAlgorithm chosen_conv_algorithm = ConvAlgorithm::automatic;
}  // namespace

void set_conv_algorithm(ConvAlgorithm algorithm) { chosen_conv_algorithm = algorithm; }
ConvAlgorithm conv_algorithm() { return chosen_conv_algorithm; }
ConvAlgorithm parse_conv_algorithm(const std::string& name) {
  if (name == "auto") return ConvAlgorithm::automatic;
  if (name == "direct") return ConvAlgorithm::direct;
  fail("--conv-algorithm: expected auto or direct, got '" + name + "'");
}

int64_t cudnn_element_limit() { return cudnn_limit; }
void set_cudnn_element_limit(int64_t limit) {
  check(limit >= 1 && limit <= std::numeric_limits<int32_t>::max(),
        "cuDNN's element limit must be from 1 to 2^31 - 1 (got " + std::to_string(limit) + ")");
  cudnn_limit = limit;
}

void set_num_threads(int threads) {
  check(threads >= 1, "--threads must be at least 1 (got " + std::to_string(threads) + ")");
  omp_set_num_threads(threads);
  // Kernels parallelise over samples and channels themselves; BLAS calls made
  // inside those loops must not start threads of their own.
  openblas_set_num_threads(1);
}

int num_threads() { return omp_get_max_threads(); }

namespace cpu {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B,
              static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}

}  // namespace cpu
}  // namespace actlab
