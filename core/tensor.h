// The float32 tensor: a shape, a device tag and shared, contiguous storage
// (NCHW for images). Views share storage; nothing is strided.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace actlab {

enum class Device : uint8_t { cpu, cuda };
std::string to_string(Device device);
Device parse_device(const std::string& name);   // "cpu" | "cuda"; throws Error
bool cuda_available();                           // built with CUDA and a GPU answers
size_t cuda_free_memory();                       // bytes the GPU has free (0 without one)

using Shape = std::vector<int64_t>;
int64_t numel(const Shape& shape);
std::string to_string(const Shape& shape);       // "[128, 16, 32, 32]"

// One allocation on one device, returned to that device's caching allocator.
class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

class Tensor {
 public:
  Tensor() = default;
  static Tensor empty(Shape shape, Device device = Device::cpu);
  static Tensor zeros(Shape shape, Device device = Device::cpu);
  static Tensor full(Shape shape, float value, Device device = Device::cpu);
  static Tensor from_vector(Shape shape, const std::vector<float>& values);

  bool defined() const { return storage_ != nullptr; }
  // This handle is its storage's only owner: modifying it in place is safe.
  bool unique() const { return storage_ != nullptr && storage_.use_count() == 1; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t size(int dim) const;                   // negative dims count from the end
  int64_t numel() const { return numel_; }
  Device device() const { return device_; }

  float* data() const { return static_cast<float*>(storage_->data()) + offset_; }

  Tensor view(Shape shape) const;                // same storage, same numel
  Tensor slice(int64_t begin, int64_t end) const;  // rows [begin, end) of dim 0, shared
  Tensor clone() const;
  Tensor to(Device device) const;
  void copy_from(const Tensor& source);          // same numel, any devices
  std::vector<float> to_vector() const;
  float item() const;                            // the value of a one-element tensor
  void zero_();
  void fill_(float value);

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  int64_t numel_ = 0;
  int64_t offset_ = 0;                           // in elements
  Device device_ = Device::cpu;
};

bool same_shape(const Tensor& a, const Tensor& b);

// An [N, C, ...] tensor seen as N·C planes of HW elements (the product of the
// remaining dimensions; 1 for [N, C]): how per-channel kernels walk it.
// Kernels copy the fields into named locals rather than structured bindings:
// clang 14, which builds the fuzz targets, cannot capture a structured
// binding in an OpenMP region.
struct Planes {
  int64_t N, C, HW;
};
inline Planes planes_of(const Tensor& x) {
  int64_t HW = 1;
  for (int d = 2; d < x.ndim(); ++d) HW *= x.size(d);
  return {x.size(0), x.size(1), HW};
}

}  // namespace actlab
