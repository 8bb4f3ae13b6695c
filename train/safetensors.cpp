// safetensors reading and atomic writing (see safetensors.h).
#include "train/safetensors.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

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

namespace {

// The format's own cap on the JSON header (safetensors' MAX_HEADER_SIZE).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// A file opened for reading that closes itself.
struct InputFile {
  int fd = -1;
  ~InputFile() {
    if (fd >= 0) ::close(fd);
  }
};

// Reads exactly `count` bytes at `offset`; false at an early end of file.
bool read_at(int fd, void* into, size_t count, uint64_t offset) {
  auto* p = static_cast<char*>(into);
  while (count > 0) {
    const ssize_t n = ::pread(fd, p, count, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n, count -= static_cast<size_t>(n), offset += static_cast<uint64_t>(n);
  }
  return true;
}

// The header's JSON, read only after its declared length was checked
// against the file's size and the cap; a name given twice is an error (JSON
// parsers keep the last one silently).
json parse_header(const std::string& text, const std::string& bad) {
  std::set<std::string> names;
  const json::parser_callback_t no_duplicates = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && !names.insert(parsed.get<std::string>()).second)
      fail(bad + "the header names '" + parsed.get<std::string>() + "' twice");
    return true;
  };
  try {
    return json::parse(text, no_duplicates);
  } catch (const json::exception& e) {
    fail(bad + "its header is not JSON (" + e.what() + ")");
  }
}

struct Entry {
  std::string name;
  StoredTensor tensor;   // bytes still empty
  uint64_t begin = 0, end = 0;
};

// One tensor's header entry: a known dtype, a shape of non-negative sizes
// whose byte count does not overflow, and two offsets.
Entry parse_entry(const std::string& name, const json& entry, const std::string& bad) {
  const std::string what = bad + "tensor '" + name + "' ";
  if (!entry.is_object()) fail(what + "is not an object");
  const auto field = [&](const char* key) -> const json& {
    const auto it = entry.find(key);
    if (it == entry.end()) fail(what + "has no " + key);
    return *it;
  };
  Entry e;
  e.name = name;
  const json& dtype = field("dtype");
  if (!dtype.is_string()) fail(what + "has a dtype that is not a string");
  e.tensor.dtype = dtype.get<std::string>();
  uint64_t bytes = dtype_size(e.tensor.dtype);
  if (!bytes) fail(what + "has unknown dtype " + e.tensor.dtype);
  const json& shape = field("shape");
  if (!shape.is_array()) fail(what + "has a shape that is not a list");
  for (const json& size : shape) {
    if (!size.is_number_unsigned()) fail(what + "has a shape with a size that is not a whole number >= 0");
    const uint64_t n = size.get<uint64_t>();
    if (n > 0 && bytes > std::numeric_limits<int64_t>::max() / n) fail(what + "has a shape too large to hold");
    bytes *= n;
    e.tensor.shape.push_back(static_cast<int64_t>(n));
  }
  const json& offsets = field("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    fail(what + "has data_offsets that are not two whole numbers");
  e.begin = offsets[0].get<uint64_t>();
  e.end = offsets[1].get<uint64_t>();
  if (e.end < e.begin || e.end - e.begin != bytes)
    fail(what + "has data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] that do not hold its " +
         e.tensor.dtype + " " + to_string(e.tensor.shape) + " (" + std::to_string(bytes) + " bytes)");
  return e;
}

}  // namespace

// Checks everything the format requires before reading any tensor data: a
// regular file; a header length within the file and the cap; a JSON object
// with each name once; entries whose offsets, sorted, tile the data section
// exactly (no gap, no overlap, nothing after the last). Then reads each
// tensor's bytes, which the file is known to hold.
TensorFile read_safetensors(const std::string& path) {
  struct stat info{};
  if (::stat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) fail("checkpoint not found: " + path);
    fail("cannot open checkpoint " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(info.st_mode)) fail(path + " is not a regular file (a safetensors checkpoint is expected)");
  InputFile in;
  in.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0) fail("cannot open checkpoint " + path + ": " + std::strerror(errno));
  if (::fstat(in.fd, &info) != 0 || !S_ISREG(info.st_mode)) fail(path + " is not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(info.st_size);
  const std::string bad = path + " is not a valid safetensors file: ";
  uint8_t length_bytes[8];
  if (file_size < 8 || !read_at(in.fd, length_bytes, 8, 0)) fail(bad + "shorter than its 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | length_bytes[i];
  if (header_len > file_size - 8)
    fail(bad + "header length " + std::to_string(header_len) + " exceeds the file (" + std::to_string(file_size) + " bytes)");
  if (header_len > kMaxHeaderBytes)
    fail(bad + "header length " + std::to_string(header_len) + " is over the format's limit of 100 MB");
  std::string text(header_len, '\0');
  if (!read_at(in.fd, text.data(), header_len, 8)) fail(bad + "the file ended inside its header");
  const json header = parse_header(text, bad);
  if (!header.is_object()) fail(bad + "its header is not a JSON object");

  TensorFile file;
  file.source = path;
  std::vector<Entry> entries;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(bad + "__metadata__ is not an object");
      for (const auto& [k, v] : entry.items())
        if (v.is_string()) file.metadata[k] = v.get<std::string>();
      continue;
    }
    entries.push_back(parse_entry(name, entry, bad));
  }
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::stable_sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  const uint64_t data_start = 8 + header_len, data_len = file_size - data_start;
  uint64_t covered = 0;
  for (const Entry* e : by_offset) {
    if (e->begin != covered)
      fail(bad + "tensor '" + e->name + "' starts at byte " + std::to_string(e->begin) + " of the data, where " +
           std::to_string(covered) + " was expected (tensors must follow each other without gap or overlap)");
    covered = e->end;
  }
  if (covered != data_len)
    fail(bad + "its tensors hold " + std::to_string(covered) + " bytes of data, but the file has " +
         std::to_string(data_len) + " after the header");

  for (Entry& e : entries) {
    e.tensor.bytes.resize(e.end - e.begin);
    if (!read_at(in.fd, e.tensor.bytes.data(), e.tensor.bytes.size(), data_start + e.begin))
      fail(bad + "the file ended inside tensor '" + e.name + "' (it changed while being read?)");
    file.tensors.emplace_back(std::move(e.name), std::move(e.tensor));
  }
  return file;
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
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
  crash_point();
  rename_durably(tmp, path);
}

void rename_durably(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    const int error = errno;
    ::unlink(from.c_str());
    fail("cannot rename " + from + " to " + to + ": " + std::strerror(error));
  }
  // Make the rename itself durable.
  const fs::path target(to);
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  crash_point();
}

void crash_point() {
  static const long kill_at = [] {
    const char* text = std::getenv("ACTLAB_KILL_AT_WRITE");
    return text ? std::atol(text) : 0L;
  }();
  static std::atomic<long> reached{0};
  if (kill_at > 0 && ++reached == kill_at) ::kill(::getpid(), SIGKILL);
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
