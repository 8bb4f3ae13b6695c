// The safetensors format (SPEC 3): 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then
// the raw little-endian data. Writes are atomic: temporary file, fsync, rename.
// Reading checks every rule of the format before it reads tensor data.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace actlab {

struct StoredTensor {
  std::string dtype;             // "F32" or "I64" (others are read but rejected on load)
  Shape shape;
  std::vector<uint8_t> bytes;
};

struct TensorFile {
  std::map<std::string, std::string> metadata;
  std::vector<std::pair<std::string, StoredTensor>> tensors;  // in the order written

  void add(const std::string& name, const Tensor& t);          // F32, copied from any device
  void add_i64(const std::string& name, int64_t value);        // I64, shape []
  const StoredTensor* find(const std::string& name) const;
  Tensor tensor(const std::string& name) const;                // F32 only; throws Error naming file and tensor
  int64_t i64(const std::string& name) const;

  std::string source;            // file it was read from, for messages
};

TensorFile read_safetensors(const std::string& path);  // validates the header; throws Error
void write_safetensors(const TensorFile& file, const std::string& path);
// Writes `bytes` to `path` atomically (temporary file + fsync + rename).
void write_file_atomic(const std::string& path, const std::string& bytes);
// Renames and makes the rename durable (fsync of the directory).
void rename_durably(const std::string& from, const std::string& to);

// A test hook for the kill tests: with ACTLAB_KILL_AT_WRITE=N in the
// environment, the N-th durable step of this process (a write's data on disk,
// a rename done) ends it with SIGKILL, as `kill -9` would. Costs nothing
// otherwise.
void crash_point();

}  // namespace actlab
