// What every CUDA kernel file shares: error checks, the library handles, the
// launch geometry and a scratch buffer. Internal to core/cuda/ and the .cu
// twins of the activations.
//
// All work runs on the legacy default stream, in order: a kernel launch never
// waits for the host, and the copies back to the host (a loss, an accuracy
// count) are the only points where the host waits for the device.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/tensor.h"

namespace actlab::cuda {

void check(cudaError_t status, const char* what);
void check(cublasStatus_t status, const char* what);
void check(cudnnStatus_t status, const char* what);

// Call after every launch: reports a bad launch configuration at once.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

cudnnHandle_t cudnn();
cublasHandle_t cublas();

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535LL * 16) b = 65535LL * 16;   // kernels loop with a grid stride beyond this
  return static_cast<unsigned>(b);
}

// A device tensor used as scratch space, from the caching allocator.
Tensor scratch(int64_t floats);

// Copies `count` int32 labels from the host into a reused device buffer.
const int32_t* upload_labels(const int32_t* labels, int64_t count);

}  // namespace actlab::cuda

#define ACTLAB_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
