// Tensor storage, views and copies (see tensor.h).
#include "core/tensor.h"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <utility>

#include "core/allocator.h"
#include "core/device.h"
#include "core/error.h"

namespace actlab {

namespace {

void* host_allocate(size_t bytes) { return host_allocator::allocate(bytes); }
void host_release(void* p, size_t bytes) { host_allocator::release(p, bytes); }
void host_copy(void* dst, Device, const void* src, Device, size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}
void host_fill(float* dst, float value, int64_t count) { std::fill(dst, dst + count, value); }

// The ticket is a copy of the bytes.
void* host_start_download(const void* src, size_t bytes) {
  auto* copy = new std::vector<char>(static_cast<const char*>(src), static_cast<const char*>(src) + bytes);
  return copy;
}
void host_finish_download(void* ticket, void* dst, size_t bytes) {
  auto* copy = static_cast<std::vector<char>*>(ticket);
  if (dst && bytes) std::memcpy(dst, copy->data(), std::min(bytes, copy->size()));
  delete copy;
}

const DeviceMemory kHostMemory{host_allocate,       host_release,        host_copy, host_fill,
                               host_start_download, host_finish_download};

}  // namespace

const DeviceMemory& device_memory(Device device) {
  if (device == Device::cpu) return kHostMemory;
#ifdef ACTLAB_HAVE_CUDA
  if (!cuda_device_present()) fail("--device cuda: no usable CUDA GPU was found on this machine");
  return cuda_device_memory();
#else
  fail("--device cuda: this actlab was built without the CUDA backend (ACTLAB_CUDA=OFF or nvcc/cuDNN not found)");
#endif
}

PendingValues::PendingValues(const Tensor& t) : device_(t.device()), count_(static_cast<size_t>(t.numel())) {
  ticket_ = device_memory(device_).start_download(t.data(), count_ * sizeof(float));
}

PendingValues::PendingValues(PendingValues&& other) noexcept
    : device_(other.device_), ticket_(std::exchange(other.ticket_, nullptr)), count_(other.count_) {}

PendingValues& PendingValues::operator=(PendingValues&& other) noexcept {
  if (this != &other) {
    drop();
    device_ = other.device_;
    ticket_ = std::exchange(other.ticket_, nullptr);
    count_ = other.count_;
  }
  return *this;
}

PendingValues::~PendingValues() { drop(); }

// Waits for the copy and discards it (a null destination drops errors too).
void PendingValues::drop() noexcept {
  if (ticket_) device_memory(device_).finish_download(std::exchange(ticket_, nullptr), nullptr, 0);
}

std::vector<float> PendingValues::values() {
  check(ticket_ != nullptr, "PendingValues::values: nothing pending");
  std::vector<float> out(count_);
  device_memory(device_).finish_download(std::exchange(ticket_, nullptr), out.data(), count_ * sizeof(float));
  return out;
}

bool cuda_available() {
#ifdef ACTLAB_HAVE_CUDA
  return cuda_device_present();
#else
  return false;
#endif
}

size_t cuda_free_memory() {
#ifdef ACTLAB_HAVE_CUDA
  return cuda_free_bytes();
#else
  return 0;
#endif
}

std::string to_string(Device device) { return device == Device::cpu ? "cpu" : "cuda"; }

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::cpu;
  if (name == "cuda") return Device::cuda;
  fail("--device: unknown device '" + name + "' (expected cpu or cuda)");
}

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string to_string(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  data_ = device_memory(device).allocate(bytes);
}

Storage::~Storage() { device_memory(device_).release(data_, bytes_); }

Tensor Tensor::empty(Shape shape, Device device) {
  for (int64_t d : shape) check(d >= 0, "negative dimension in shape " + to_string(shape));
  Tensor t;
  t.numel_ = actlab::numel(shape);
  t.shape_ = std::move(shape);
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>(static_cast<size_t>(t.numel_) * sizeof(float), device);
  return t;
}

Tensor Tensor::zeros(Shape shape, Device device) { return full(std::move(shape), 0.0f, device); }

Tensor Tensor::full(Shape shape, float value, Device device) {
  Tensor t = empty(std::move(shape), device);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_vector(Shape shape, const std::vector<float>& values) {
  check(actlab::numel(shape) == static_cast<int64_t>(values.size()),
        "from_vector: " + std::to_string(values.size()) + " values for shape " + to_string(shape));
  Tensor t = empty(std::move(shape));
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

int64_t Tensor::size(int dim) const {
  int d = dim < 0 ? dim + ndim() : dim;
  check(d >= 0 && d < ndim(), "dimension " + std::to_string(dim) + " out of range for " + to_string(shape_));
  return shape_[d];
}

Tensor Tensor::view(Shape shape) const {
  check(actlab::numel(shape) == numel_,
        "view: cannot view " + to_string(shape_) + " as " + to_string(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  check(ndim() > 0 && begin >= 0 && begin <= end && end <= shape_[0],
        "slice [" + std::to_string(begin) + ", " + std::to_string(end) + ") out of range for " + to_string(shape_));
  int64_t row = shape_[0] ? numel_ / shape_[0] : 0;
  Tensor t = *this;
  t.shape_[0] = end - begin;
  t.numel_ = row * (end - begin);
  t.offset_ += row * begin;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, device_);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == device_) return *this;
  Tensor t = empty(shape_, device);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& source) {
  check(source.numel() == numel_, "copy_from: " + to_string(source.shape()) + " into " + to_string(shape_));
  Device owner = device_ == Device::cuda || source.device_ == Device::cuda ? Device::cuda : Device::cpu;
  device_memory(owner).copy(data(), device_, source.data(), source.device_, numel_ * sizeof(float));
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> out(numel_);
  if (numel_ == 0) return out;
  Device owner = device_;
  device_memory(owner).copy(out.data(), Device::cpu, data(), device_, numel_ * sizeof(float));
  return out;
}

float Tensor::item() const {
  check(numel_ == 1, "item: tensor of shape " + to_string(shape_) + " is not a single value");
  return to_vector()[0];
}

void Tensor::zero_() { fill_(0.0f); }

void Tensor::fill_(float value) {
  if (numel_) device_memory(device_).fill(data(), value, numel_);
}

bool same_shape(const Tensor& a, const Tensor& b) { return a.shape() == b.shape(); }

}  // namespace actlab
