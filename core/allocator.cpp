// Size-bucketed cache of aligned blocks (see allocator.h).
#include "core/allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace actlab::host_allocator {
namespace {

constexpr size_t kAlignment = 64;

struct Cache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;
  size_t in_use = 0;
  size_t peak = 0;
  size_t cached = 0;   // bytes in free_blocks
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: tensors may outlive static destructors
  return *c;
}

// Round up to a bucket: multiples of 64 bytes below 4 KiB, then quarters of a
// power of two, so a slightly different size still finds a cached block.
size_t bucket(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= 4096) return (bytes + kAlignment - 1) / kAlignment * kAlignment;
  size_t p = 4096;
  while (p < bytes) p <<= 1;
  size_t quarter = p / 8;
  return (bytes + quarter - 1) / quarter * quarter;
}

}  // namespace

void* allocate(size_t bytes) {
  size_t size = bucket(bytes);
  Cache& c = cache();
  {
    std::lock_guard lock(c.mutex);
    c.in_use += size;
    if (c.in_use > c.peak) c.peak = c.in_use;
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= size;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlignment, size);
  if (!p) throw std::bad_alloc();
  return p;
}

void release(void* ptr, size_t bytes) {
  if (!ptr) return;
  size_t size = bucket(bytes);
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  c.in_use -= size;
  c.cached += size;
  c.free_blocks[size].push_back(ptr);
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  for (auto& [size, blocks] : c.free_blocks)
    for (void* p : blocks) std::free(p);
  c.free_blocks.clear();
  c.cached = 0;
}

size_t bytes_in_use() {
  std::lock_guard lock(cache().mutex);
  return cache().in_use;
}

size_t bytes_held() {
  std::lock_guard lock(cache().mutex);
  return cache().in_use + cache().cached;
}

size_t peak_bytes_in_use() {
  std::lock_guard lock(cache().mutex);
  return cache().peak;
}

void reset_peak() {
  std::lock_guard lock(cache().mutex);
  cache().peak = cache().in_use;
}

}  // namespace actlab::host_allocator
