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
#include <initializer_list>
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

// A block for `units` work items of one plane (pixels, or quads of them).
inline unsigned threads_for_plane(int64_t units) {
  return units >= kThreads ? kThreads : (units > 64 ? 128 : (units > 32 ? 64 : 32));
}

// Whether a kernel may walk every plane four pixels at a time with 16-byte
// loads and stores: HW a multiple of 4 and every tensor's base 16-byte
// aligned (then every plane's is too).
inline bool quad_planes(int64_t HW, std::initializer_list<const void*> pointers) {
  if (HW % 4 != 0) return false;
  for (const void* p : pointers)
    if (p && reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

// The (plane, pixels) grid; with `quads` the pixel axis counts quads.
inline PlaneGrid plane_grid(int64_t planes, int64_t HW, bool quads = false) {
  const int64_t units = quads ? HW / 4 : HW;
  const unsigned threads = threads_for_plane(units);
  const int64_t x = std::min<int64_t>((units + threads - 1) / threads, 64);
  const int64_t y = std::min<int64_t>(planes, 65535);
  return {dim3(static_cast<unsigned>(std::max<int64_t>(x, 1)), static_cast<unsigned>(std::max<int64_t>(y, 1))),
          threads};
}

struct Plus {
  template <class T>
  __device__ T operator()(T a, T b) const { return a + b; }
};
struct Larger {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Reduction over one warp's lanes in a fixed order (a shuffle tree); the
// result is in lane 0.
template <class T, class Op = Plus>
__device__ T warp_sum(T value, Op op = {}) {
  for (int offset = 16; offset > 0; offset /= 2) value = op(value, __shfl_down_sync(0xffffffffu, value, offset));
  return value;
}

// Reduction of one value per thread over the whole block, in a fixed order (a
// warp_sum in each warp, then one across the warps), so every run gives the
// same bits. Every thread of the block calls it, blockDim.x a multiple of 32;
// the result is in thread 0. `identity` fills the missing warps.
template <class T, class Op = Plus>
__device__ T block_sum(T value, Op op = {}, T identity = T(0)) {
  __shared__ T warp_sums[32];
  value = warp_sum(value, op);
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = value;
  __syncthreads();
  if (warp == 0) value = warp_sum(lane < blockDim.x / 32 ? warp_sums[lane] : identity, op);
  __syncthreads();   // warp_sums may be reused by the next call
  return value;
}

// block_sum's result in every thread of the block.
template <class T, class Op = Plus>
__device__ T block_all(T value, Op op = {}, T identity = T(0)) {
  __shared__ T result;
  value = block_sum(value, op, identity);
  if (threadIdx.x == 0) result = value;
  __syncthreads();
  value = result;
  __syncthreads();
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

namespace actlab::cuda {

// One plane's pixels over the (plane, pixels) grid: y[h] = f(h, x[h]), four
// at a time with 16-byte loads and stores when `quads` (see quad_planes).
template <class F>
__device__ void map_plane(const float* x, float* y, int64_t HW, bool quads, F f) {
  if (quads) {
    const float4* x4 = reinterpret_cast<const float4*>(x);
    float4* y4 = reinterpret_cast<float4*>(y);
    ACTLAB_PLANE_PIXELS(q, HW / 4) {
      const float4 v = x4[q];
      const int64_t h = 4 * q;
      float4 out;
      out.x = f(h, v.x);
      out.y = f(h + 1, v.y);
      out.z = f(h + 2, v.z);
      out.w = f(h + 3, v.w);
      y4[q] = out;
    }
  } else {
    ACTLAB_PLANE_PIXELS(h, HW) y[h] = f(h, x[h]);
  }
}

// One plane's pixels over one block (thread t takes units t, t + blockDim.x,
// …): dx[h] = f(h, x[h], dy[h]), in that order within a thread, four at a
// time when `quads`. f may add to the thread's own sums.
template <class F>
__device__ void map_plane_block(const float* x, const float* dy, float* dx, int64_t HW, bool quads, F f) {
  if (quads) {
    const float4* x4 = reinterpret_cast<const float4*>(x);
    const float4* g4 = reinterpret_cast<const float4*>(dy);
    float4* d4 = reinterpret_cast<float4*>(dx);
    for (int64_t q = threadIdx.x; q < HW / 4; q += blockDim.x) {
      const float4 v = x4[q], g = g4[q];
      const int64_t h = 4 * q;
      float4 out;
      out.x = f(h, v.x, g.x);
      out.y = f(h + 1, v.y, g.y);
      out.z = f(h + 2, v.z, g.z);
      out.w = f(h + 3, v.w, g.w);
      d4[q] = out;
    }
  } else {
    for (int64_t h = threadIdx.x; h < HW; h += blockDim.x) dx[h] = f(h, x[h], dy[h]);
  }
}

}  // namespace actlab::cuda
