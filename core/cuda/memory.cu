// CUDA device memory: a caching allocator over cudaMalloc (blocks are kept in
// size buckets after release and reused best-fit, as on the host) and
// host<->device copies.
//
// Copies to the device go through pinned staging buffers and are queued on
// the default stream without the host waiting: the host's bytes are taken at
// once, the copy runs in order with the kernels. Copies to the host either
// wait (copy) or run behind the queued work and are collected later
// (start_download / finish_download), so the host can queue the next step
// first.
#include <cuda_runtime.h>

#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "core/block_cache.h"
#include "core/device.h"
#include "core/error.h"

namespace actlab {
namespace {

void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) fail(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(status));
}

size_t bucket(size_t bytes) {
  const size_t granule = 512;
  if (bytes <= (1u << 20)) return (bytes + granule - 1) / granule * granule;
  size_t p = 1u << 20;
  while (p < bytes) p <<= 1;
  const size_t quarter = p / 8;
  return (bytes + quarter - 1) / quarter * quarter;
}

// Released blocks for reuse (core/block_cache.h), device memory and pinned
// host buffers alike, each cache under its own lock.
struct LockedCache {
  std::mutex mutex;
  BlockCache blocks;

  // A cached block that holds `size` bytes, else fresh(size, blocks), which
  // may empty the cache before it allocates.
  template <class Fresh>
  void* take(size_t size, Fresh&& fresh) {
    std::lock_guard lock(mutex);
    size_t block = size;
    if (void* p = blocks.take(size, block)) return p;
    void* p = fresh(size, blocks);
    blocks.add(p, size);
    return p;
  }
  void put(void* p) {
    if (!p) return;
    std::lock_guard lock(mutex);
    blocks.put(p);
  }
};

LockedCache& device_cache() {
  static LockedCache* c = new LockedCache;
  return *c;
}

void* device_allocate(size_t bytes) {
  return device_cache().take(bucket(bytes ? bytes : 1), [](size_t size, BlockCache& cached) {
    void* p = nullptr;
    cudaError_t status = cudaMalloc(&p, size);
    if (status == cudaErrorMemoryAllocation) {
      // Clear the error (out of memory is not sticky, but the next launch
      // check would read it), free the cache and try once more.
      (void)cudaGetLastError();
      cached.drain([](void* block) { cudaFree(block); });
      status = cudaMalloc(&p, size);
      if (status == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        fail("the GPU ran out of memory allocating " + std::to_string(size >> 20) +
             " MiB; use a smaller --batch (or --device cpu)");
      }
    }
    check_cuda(status, "cudaMalloc");
    return p;
  });
}

void device_release(void* ptr, size_t /*bytes: the cache knows the block's size*/) { device_cache().put(ptr); }

// Pinned host buffers, kept like device blocks (cudaHostAlloc is slow), and
// events to mark when the copies that use them have run.
LockedCache& pinned() {
  static LockedCache* c = new LockedCache;
  return *c;
}

void* pinned_allocate(size_t bytes) {
  return pinned().take(bucket(bytes ? bytes : 1), [](size_t size, BlockCache&) {
    void* p = nullptr;
    check_cuda(cudaHostAlloc(&p, size, cudaHostAllocDefault), "cudaHostAlloc");
    return p;
  });
}

void pinned_release(void* p, size_t /*bytes*/) { pinned().put(p); }

struct EventPool {
  std::mutex mutex;
  std::vector<cudaEvent_t> free_events;
};

EventPool& events() {
  static EventPool* e = new EventPool;
  return *e;
}

cudaEvent_t event_after_queued_work() {
  cudaEvent_t e = nullptr;
  {
    std::lock_guard lock(events().mutex);
    if (!events().free_events.empty()) {
      e = events().free_events.back();
      events().free_events.pop_back();
    }
  }
  if (!e) check_cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
  check_cuda(cudaEventRecord(e, 0), "cudaEventRecord");
  return e;
}

void event_release(cudaEvent_t e) {
  std::lock_guard lock(events().mutex);
  events().free_events.push_back(e);
}

// Staged uploads still in flight, oldest first; their buffers return to the
// pool once their events have passed.
struct Staged {
  void* buffer;
  size_t bytes;
  cudaEvent_t done;
};

std::mutex staged_mutex;
std::deque<Staged> staged;

constexpr size_t kStagedLimit = size_t{64} << 20;   // larger copies (whole models) simply wait
constexpr size_t kMaxInFlight = 64;

void recycle_staged(bool wait_for_oldest) {
  while (!staged.empty()) {
    const Staged& s = staged.front();
    if (wait_for_oldest) {
      check_cuda(cudaEventSynchronize(s.done), "cudaEventSynchronize");
      wait_for_oldest = false;
    } else if (cudaEventQuery(s.done) != cudaSuccess) {
      break;
    }
    pinned_release(s.buffer, s.bytes);
    event_release(s.done);
    staged.pop_front();
  }
}

void upload_staged(void* dst, const void* src, size_t bytes) {
  if (bytes > kStagedLimit) {
    check_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy (to the GPU)");
    return;
  }
  std::lock_guard lock(staged_mutex);
  recycle_staged(staged.size() >= kMaxInFlight);
  void* buffer = pinned_allocate(bytes);
  std::memcpy(buffer, src, bytes);
  check_cuda(cudaMemcpyAsync(dst, buffer, bytes, cudaMemcpyHostToDevice, 0), "cudaMemcpyAsync (to the GPU)");
  staged.push_back({buffer, bytes, event_after_queued_work()});
}

void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (!bytes) return;
  if (src_device == Device::cpu && dst_device == Device::cuda) return upload_staged(dst, src, bytes);
  cudaMemcpyKind kind = src_device == Device::cpu
                            ? (dst_device == Device::cpu ? cudaMemcpyHostToHost : cudaMemcpyHostToDevice)
                            : (dst_device == Device::cpu ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice);
  check_cuda(cudaMemcpy(dst, src, bytes, kind), "cudaMemcpy");
}

struct Download {
  void* buffer;
  size_t bytes;
  cudaEvent_t done;
};

void* start_download(const void* src, size_t bytes) {
  void* buffer = pinned_allocate(bytes);
  if (bytes)
    check_cuda(cudaMemcpyAsync(buffer, src, bytes, cudaMemcpyDeviceToHost, 0), "cudaMemcpyAsync (to the host)");
  return new Download{buffer, bytes, event_after_queued_work()};
}

// dst == nullptr: the values are dropped (a destructor), and errors with them.
void finish_download(void* ticket, void* dst, size_t bytes) {
  Download d = *static_cast<Download*>(ticket);
  delete static_cast<Download*>(ticket);
  const cudaError_t status = cudaEventSynchronize(d.done);
  if (dst && status == cudaSuccess) std::memcpy(dst, d.buffer, std::min(bytes, d.bytes));
  pinned_release(d.buffer, d.bytes);
  event_release(d.done);
  if (dst) check_cuda(status, "cudaEventSynchronize (copy to the host)");
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

const DeviceMemory kDeviceMemory{device_allocate, device_release, device_copy,
                                 device_fill,     start_download, finish_download};

}  // namespace

const DeviceMemory& cuda_device_memory() { return kDeviceMemory; }

namespace cuda {
void upload(void* dst, const void* src, size_t bytes) {
  if (bytes) upload_staged(dst, src, bytes);
}
}  // namespace cuda

// Any error here (no driver, "driver version is insufficient", no device)
// means: no GPU.
bool cuda_device_present() {
  static const bool present = [] {
    int count = 0;
    return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
  }();
  return present;
}

size_t cuda_free_bytes() {
  size_t free = 0, total = 0;
  if (!cuda_device_present() || cudaMemGetInfo(&free, &total) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return free;
}

}  // namespace actlab
