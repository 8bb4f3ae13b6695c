// The CUDA row of the kernel table, the library handles and the shared scratch
// buffers.
#include <mutex>
#include <vector>

#include "core/cuda/cuda_common.h"
#include "core/cuda/cuda_kernels.h"
#include "core/device.h"

namespace actlab {

const Kernels& cuda_kernels() {
  check(cuda_device_present(), "--device cuda: no CUDA GPU answers on this machine (cudaGetDeviceCount failed "
                               "or found none); use --device cpu");
  static const Kernels table{
      cuda::conv2d_forward,      cuda::conv2d_backward,
      cuda::batch_norm_train,    cuda::batch_norm_eval,       cuda::batch_norm_backward,
      cuda::linear_forward,      cuda::linear_backward,       cuda::max_pool2d_forward,
      cuda::max_pool2d_backward, cuda::avg_pool2d_forward,    cuda::avg_pool2d_backward,
      cuda::unary_forward,       cuda::unary_backward,        cuda::binary_forward,
      cuda::affine_scalar,       cuda::sum_to,                cuda::mean_hw_forward,
      cuda::mean_hw_backward,    cuda::shortcut_a_forward,    cuda::shortcut_a_backward,
      cuda::cross_entropy_forward, cuda::cross_entropy_backward,
      cuda::sgd_step,            cuda::all_finite,
  };
  return table;
}

namespace cuda {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) fail(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(status));
}

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    fail(std::string("cuBLAS error in ") + what + ": " + cublasGetStatusString(status));
}

void check(cudnnStatus_t status, const char* what) {
  if (status != CUDNN_STATUS_SUCCESS)
    fail(std::string("cuDNN error in ") + what + ": " + cudnnGetErrorString(status));
}

cudnnHandle_t cudnn() {
  static cudnnHandle_t handle = [] {
    cudnnHandle_t h = nullptr;
    check(cudnnCreate(&h), "cudnnCreate");
    return h;
  }();
  return handle;
}

cublasHandle_t cublas() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    check(cublasCreate(&h), "cublasCreate");
    // Plain fp32 arithmetic: no TF32 tensor-core shortcut.
    check(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    return h;
  }();
  return handle;
}

Tensor scratch(int64_t floats) { return Tensor::empty({std::max<int64_t>(floats, 1)}, Device::cuda); }

const int32_t* upload_labels(const int32_t* labels, int64_t count) {
  // One buffer that grows; the default stream orders its reuse after the
  // kernels that read the previous labels.
  static std::mutex mutex;
  static Tensor buffer;
  std::lock_guard lock(mutex);
  if (!buffer.defined() || buffer.numel() < count) buffer = scratch(count);
  upload(buffer.data(), labels, static_cast<size_t>(count) * sizeof(int32_t));
  return reinterpret_cast<const int32_t*>(buffer.data());
}

}  // namespace cuda
}  // namespace actlab
