// CUDA device memory: a caching allocator over cudaMalloc (blocks are kept in
// size buckets after release, as on the host) and host<->device copies.
#include <cuda_runtime.h>

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/device.h"
#include "core/error.h"

namespace actlab {
namespace {

void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) fail(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(status));
}

struct DeviceCache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;
};

DeviceCache& cache() {
  static DeviceCache* c = new DeviceCache;
  return *c;
}

size_t bucket(size_t bytes) {
  const size_t granule = 512;
  if (bytes <= (1u << 20)) return (bytes + granule - 1) / granule * granule;
  size_t p = 1u << 20;
  while (p < bytes) p <<= 1;
  const size_t quarter = p / 8;
  return (bytes + quarter - 1) / quarter * quarter;
}

void* device_allocate(size_t bytes) {
  const size_t size = bucket(bytes ? bytes : 1);
  {
    std::lock_guard lock(cache().mutex);
    auto& blocks = cache().free_blocks[size];
    if (!blocks.empty()) {
      void* p = blocks.back();
      blocks.pop_back();
      return p;
    }
  }
  void* p = nullptr;
  cudaError_t status = cudaMalloc(&p, size);
  if (status != cudaSuccess) {
    // Free the cache and try once more before giving up.
    std::lock_guard lock(cache().mutex);
    for (auto& [s, blocks] : cache().free_blocks)
      for (void* b : blocks) cudaFree(b);
    cache().free_blocks.clear();
    check_cuda(cudaMalloc(&p, size), "cudaMalloc");
  }
  return p;
}

void device_release(void* ptr, size_t bytes) {
  if (!ptr) return;
  std::lock_guard lock(cache().mutex);
  cache().free_blocks[bucket(bytes ? bytes : 1)].push_back(ptr);
}

void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (!bytes) return;
  cudaMemcpyKind kind = src_device == Device::cpu
                            ? (dst_device == Device::cpu ? cudaMemcpyHostToHost : cudaMemcpyHostToDevice)
                            : (dst_device == Device::cpu ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice);
  check_cuda(cudaMemcpy(dst, src, bytes, kind), "cudaMemcpy");
}

__global__ void fill_kernel(float* dst, float value, int64_t count) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = value;
}

void device_fill(float* dst, float value, int64_t count) {
  if (count <= 0) return;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((count + threads - 1) / threads, 65535);
  fill_kernel<<<static_cast<unsigned>(blocks), threads>>>(dst, value, count);
  check_cuda(cudaGetLastError(), "fill");
}

const DeviceMemory kDeviceMemory{device_allocate, device_release, device_copy, device_fill};

}  // namespace

const DeviceMemory& cuda_device_memory() { return kDeviceMemory; }

// Any error here (no driver, "driver version is insufficient", no device)
// means: no GPU.
bool cuda_device_present() {
  static const bool present = [] {
    int count = 0;
    return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
  }();
  return present;
}

}  // namespace actlab
