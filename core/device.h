// What a backend supplies for memory: allocation and copies. The CPU backend
// is always present; the CUDA backend registers itself when it is built.
#pragma once
#include <cstddef>

#include "core/tensor.h"

namespace actlab {

struct DeviceMemory {
  void* (*allocate)(size_t bytes);
  void (*release)(void* ptr, size_t bytes);
  // Copies bytes between this device and the host (or within the device).
  void (*copy)(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
  void (*fill)(float* dst, float value, int64_t count);
};

const DeviceMemory& device_memory(Device device);  // throws Error if the backend is absent

#ifdef ACTLAB_HAVE_CUDA
const DeviceMemory& cuda_device_memory();           // core/cuda/memory.cu
bool cuda_device_present();
#endif

}  // namespace actlab
