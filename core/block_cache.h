// Released memory blocks kept for reuse, for the caching allocators of host
// memory (core/allocator.cpp), GPU memory and pinned staging buffers
// (core/cuda/memory.cu). A request takes the smallest cached block that holds
// it, up to twice its size, so an epoch's last, smaller batch runs in the
// full batches' blocks instead of new ones. The cache knows each block's size
// while it is in use, so a block goes back at its own size.
//
// Not thread-safe: each allocator calls it under its own lock.
#pragma once
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <unordered_map>
#include <vector>

namespace actlab {

class BlockCache {
 public:
  // A cached block of at least `size` bytes and at most twice that, now in
  // use, or null; `block` receives its size.
  void* take(size_t size, size_t& block) {
    auto it = free_.lower_bound(size);
    if (it == free_.end() || it->first > 2 * size) return nullptr;
    block = it->first;
    void* p = it->second.back();
    it->second.pop_back();
    if (it->second.empty()) free_.erase(it);
    cached_ -= block;
    in_use_.emplace(p, block);
    return p;
  }

  // A block just allocated from the system, now in use.
  void add(void* p, size_t block) { in_use_.emplace(p, block); }

  // Takes back a block in use and returns its size.
  size_t put(void* p) {
    auto it = in_use_.find(p);
    if (it == in_use_.end()) {   // a double release or a foreign pointer: a bug, never input
      std::fprintf(stderr, "actlab: internal error: a block released twice or never allocated\n");
      std::abort();
    }
    const size_t block = it->second;
    in_use_.erase(it);
    free_[block].push_back(p);
    cached_ += block;
    return block;
  }

  // Hands every cached block to free_block (blocks in use stay).
  template <class Free>
  void drain(Free&& free_block) {
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) free_block(p);
    free_.clear();
    cached_ = 0;
  }

  size_t cached_bytes() const { return cached_; }

 private:
  std::map<size_t, std::vector<void*>> free_;   // by size: the best fit is one lower_bound away
  std::unordered_map<void*, size_t> in_use_;
  size_t cached_ = 0;
};

}  // namespace actlab
