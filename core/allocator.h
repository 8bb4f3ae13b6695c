// Caching host allocator: blocks are 64-byte aligned and kept in size buckets
// after release, so a training step reuses last step's memory instead of going
// back to malloc. A request takes the smallest cached block that holds it, up
// to twice its size, so an epoch's last, smaller batch reuses the full batches'
// blocks. It also counts bytes in use and their peak for the benchmarks.
#pragma once
#include <cstddef>
#include <cstdint>

namespace actlab::host_allocator {

void* allocate(size_t bytes);
void release(void* ptr, size_t bytes);
void empty_cache();             // hand cached blocks back to the system
size_t bytes_in_use();
size_t bytes_held();            // in use plus cached: what the process holds from the system
size_t peak_bytes_in_use();
void reset_peak();

}  // namespace actlab::host_allocator
