// Size-bucketed cache of aligned blocks, reused best-fit (see allocator.h).
#include "core/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>

#include "core/block_cache.h"

namespace actlab::host_allocator {
namespace {

constexpr size_t kAlignment = 64;

struct Cache {
  std::mutex mutex;
  BlockCache blocks;
  size_t in_use = 0;
  size_t peak = 0;
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
  const size_t size = bucket(bytes);
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  size_t block = size;
  void* p = c.blocks.take(size, block);
  if (!p) {
    p = std::aligned_alloc(kAlignment, size);
    if (!p) {   // the system is short: hand back what the cache holds and try once more
      c.blocks.drain([](void* block) { std::free(block); });
      p = std::aligned_alloc(kAlignment, size);
    }
    if (!p) throw std::bad_alloc();
    c.blocks.add(p, block);
  }
  c.in_use += block;
  c.peak = std::max(c.peak, c.in_use);
  return p;
}

void release(void* ptr, size_t /*bytes: the cache knows the block's size*/) {
  if (!ptr) return;
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  c.in_use -= c.blocks.put(ptr);
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  c.blocks.drain([](void* block) { std::free(block); });
}

size_t bytes_in_use() {
  std::lock_guard lock(cache().mutex);
  return cache().in_use;
}

size_t bytes_held() {
  std::lock_guard lock(cache().mutex);
  return cache().in_use + cache().blocks.cached_bytes();
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
