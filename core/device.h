// What a backend supplies for memory: allocation and copies. The CPU backend
// is always present; the CUDA backend registers itself when it is built.
#pragma once
#include <cstddef>
#include <vector>

#include "core/tensor.h"

namespace actlab {

struct DeviceMemory {
  void* (*allocate)(size_t bytes);
  void (*release)(void* ptr, size_t bytes);
  // Copies bytes between this device and the host (or within the device).
  void (*copy)(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
  void (*fill)(float* dst, float value, int64_t count);
  // Starts a device-to-host copy behind the work already queued and returns
  // at once with a ticket; finish_download waits for that copy alone and
  // moves the bytes to dst. (The host backend copies at once.)
  void* (*start_download)(const void* src, size_t bytes);
  void (*finish_download)(void* ticket, void* dst, size_t bytes);
};

// A tensor's values on their way to the host: made right after the work that
// computes them is queued, read later (values()) without waiting for anything
// queued after them. The trainer reads a step's loss and logits this way
// while the GPU runs the next step.
class PendingValues {
 public:
  PendingValues() = default;
  explicit PendingValues(const Tensor& t);
  PendingValues(PendingValues&& other) noexcept;
  PendingValues& operator=(PendingValues&& other) noexcept;
  PendingValues(const PendingValues&) = delete;
  PendingValues& operator=(const PendingValues&) = delete;
  ~PendingValues();

  bool pending() const { return ticket_ != nullptr; }
  std::vector<float> values();   // once

 private:
  void drop() noexcept;

  Device device_ = Device::cpu;
  void* ticket_ = nullptr;
  size_t count_ = 0;
};

const DeviceMemory& device_memory(Device device);  // throws Error if the backend is absent

#ifdef ACTLAB_HAVE_CUDA
const DeviceMemory& cuda_device_memory();           // core/cuda/memory.cu
bool cuda_device_present();
size_t cuda_free_bytes();                           // 0 where no GPU answers
#endif

}  // namespace actlab
