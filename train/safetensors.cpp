// safetensors reading and atomic writing (see safetensors.h).
#include "train/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace actlab {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

size_t dtype_size(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL") return 1;
  return 0;
}

}  // namespace

void TensorFile::add(const std::string& name, const Tensor& t) {
  StoredTensor s{"F32", t.shape(), std::vector<uint8_t>(t.numel() * sizeof(float))};
  std::vector<float> values = t.to_vector();
  std::memcpy(s.bytes.data(), values.data(), s.bytes.size());
  tensors.emplace_back(name, std::move(s));
}

void TensorFile::add_i64(const std::string& name, int64_t value) {
  StoredTensor s{"I64", {}, std::vector<uint8_t>(8)};
  std::memcpy(s.bytes.data(), &value, 8);
  tensors.emplace_back(name, std::move(s));
}

const StoredTensor* TensorFile::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

namespace {

// IEEE 754 binary16 and bfloat16 to float32, exactly (every such value is a float).
float from_half(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);   // inf, nan
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {   // subnormal: m·2^-24
    const float v = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -v : v;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float from_bfloat16(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

// F32 as stored; F16 and BF16 (half-precision files, e.g. some published
// weights) widened exactly.
Tensor TensorFile::tensor(const std::string& name) const {
  const StoredTensor* s = find(name);
  if (!s) fail(source + ": no tensor '" + name + "'");
  Tensor t = Tensor::empty(s->shape);
  if (s->dtype == "F32") {
    std::memcpy(t.data(), s->bytes.data(), s->bytes.size());
  } else if (s->dtype == "F16" || s->dtype == "BF16") {
    const bool half = s->dtype == "F16";
    for (int64_t i = 0; i < t.numel(); ++i) {
      uint16_t h;
      std::memcpy(&h, s->bytes.data() + 2 * i, 2);
      t.data()[i] = half ? from_half(h) : from_bfloat16(h);
    }
  } else {
    fail(source + ": tensor '" + name + "' is " + s->dtype + ", expected a float type (F32, F16 or BF16)");
  }
  return t;
}

int64_t TensorFile::i64(const std::string& name) const {
  const StoredTensor* s = find(name);
  if (!s) fail(source + ": no tensor '" + name + "'");
  if (s->dtype != "I64" || s->bytes.size() != 8)
    fail(source + ": tensor '" + name + "' is " + s->dtype + " " + to_string(s->shape) + ", expected one I64");
  int64_t v;
  std::memcpy(&v, s->bytes.data(), 8);
  return v;
}

TensorFile read_safetensors(const std::string& path) {
  if (!fs::exists(path)) fail("checkpoint not found: " + path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open checkpoint " + path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string bad = path + " is not a valid safetensors file: ";
  if (bytes.size() < 8) fail(bad + "shorter than its 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > bytes.size() - 8) fail(bad + "header length " + std::to_string(header_len) + " exceeds the file");
  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(header_len));
  } catch (const std::exception& e) {
    fail(bad + "header is not JSON (" + e.what() + ")");
  }
  if (!header.is_object()) fail(bad + "header is not a JSON object");
  TensorFile file;
  file.source = path;
  const size_t data_start = 8 + header_len, data_len = bytes.size() - data_start;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(bad + "__metadata__ is not an object");
      for (auto& [k, v] : entry.items())
        if (v.is_string()) file.metadata[k] = v.get<std::string>();
      continue;
    }
    try {
      StoredTensor s;
      s.dtype = entry.at("dtype").get<std::string>();
      s.shape = entry.at("shape").get<Shape>();
      auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
      const size_t size = dtype_size(s.dtype);
      if (!size) fail(bad + "tensor '" + name + "' has unknown dtype " + s.dtype);
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_len ||
          offsets[1] - offsets[0] != static_cast<uint64_t>(numel(s.shape)) * size)
        fail(bad + "tensor '" + name + "' has data offsets that do not fit its shape or the file");
      s.bytes.assign(bytes.begin() + data_start + offsets[0], bytes.begin() + data_start + offsets[1]);
      file.tensors.emplace_back(name, std::move(s));
    } catch (const json::exception& e) {
      fail(bad + "entry '" + name + "' is malformed (" + e.what() + ")");
    }
  }
  return file;
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const fs::path target(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) fail("cannot write " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      fail("cannot write " + tmp + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail("cannot write " + tmp + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    fail("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
  }
  // Make the rename itself durable.
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_safetensors(const TensorFile& file, const std::string& path) {
  json header = json::object();
  if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : file.tensors) {
    header[name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  while ((text.size() + 8) % 8 != 0) text += ' ';  // keep the data 8-byte aligned
  std::string out(8, '\0');
  uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  out += text;
  out.reserve(out.size() + offset);
  for (const auto& [name, t] : file.tensors) out.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
  write_file_atomic(path, out);
}

}  // namespace actlab
