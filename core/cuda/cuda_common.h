// What every CUDA kernel file shares: error checks, the library handles, the
// launch geometry and a scratch buffer. Internal to core/cuda/ and the .cu
// twins of the activations.
//
// All work runs on the legacy default stream, in order: a kernel launch or a
// copy to the device never waits for the host, and the host waits for the
// device only where it reads values back (the trainer collects a step's loss
// and logits while the next step runs).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
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

// Queues a copy of host bytes to the device on the default stream through a
// pinned staging buffer; returns at once (core/cuda/memory.cu).
void upload(void* dst, const void* src, size_t bytes);

// Copies `count` int32 labels from the host into a reused device buffer.
const int32_t* upload_labels(const int32_t* labels, int64_t count);

}  // namespace actlab::cuda

#define ACTLAB_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

namespace actlab::cuda {

// Per-plane launches for (N, C, HW) tensors: blockIdx.y walks the N·C planes
// (with a stride past the grid's limit), x the pixels of one plane, so a
// kernel knows its plane and channel without dividing per element.
struct PlaneGrid {
  dim3 blocks;
  unsigned threads;
};

inline unsigned threads_for_plane(int64_t HW) { return HW >= kThreads ? kThreads : (HW > 64 ? 128 : 64); }

inline PlaneGrid plane_grid(int64_t planes, int64_t HW) {
  const unsigned threads = threads_for_plane(HW);
  const int64_t x = std::min<int64_t>((HW + threads - 1) / threads, 64);
  const int64_t y = std::min<int64_t>(planes, 65535);
  return {dim3(static_cast<unsigned>(std::max<int64_t>(x, 1)), static_cast<unsigned>(std::max<int64_t>(y, 1))),
          threads};
}

// Sum over one warp's lanes in a fixed order (a shuffle tree); the sum is
// returned in lane 0.
template <class T>
__device__ T warp_sum(T value) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffffu, value, offset);
  return value;
}

// Sum of one value per thread over the whole block, in a fixed order (a
// warp_sum in each warp, then one across the warps), so every run gives the
// same bits. Every thread of the block calls it, blockDim.x a multiple of 32;
// the sum is returned in thread 0.
template <class T>
__device__ T block_sum(T value) {
  __shared__ T warp_sums[32];
  value = warp_sum(value);
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = value;
  __syncthreads();
  if (warp == 0) value = warp_sum(lane < blockDim.x / 32 ? warp_sums[lane] : T(0));
  __syncthreads();   // warp_sums may be reused by the next call
  return value;
}

// Warp-per-output loops: `w` runs over outputs, one warp each, `lane` 0..31.
inline unsigned blocks_for_warps(int64_t warps) { return blocks_for(warps * 32); }

}  // namespace actlab::cuda

#define ACTLAB_PLANES(plane, planes) \
  for (int64_t plane = blockIdx.y; plane < (planes); plane += gridDim.y)
#define ACTLAB_PLANE_PIXELS(h, HW) \
  for (int64_t h = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; h < (HW); \
       h += static_cast<int64_t>(blockDim.x) * gridDim.x)
#define ACTLAB_WARPS(w, lane, count)                                                                   \
  for (int64_t w = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32,                 \
               lane = threadIdx.x % 32;                                                                \
       w < (count); w += static_cast<int64_t>(blockDim.x) * gridDim.x / 32)
