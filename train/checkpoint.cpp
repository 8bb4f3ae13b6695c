// Model checkpoints (see checkpoint.h).
#include "train/checkpoint.h"

#include <cmath>
#include <cstring>
#include <set>

#include "core/error.h"

namespace actlab {
namespace {

bool all_finite(const StoredTensor& s) {
  for (size_t i = 0; i + sizeof(float) <= s.bytes.size(); i += sizeof(float)) {
    float v;
    std::memcpy(&v, s.bytes.data() + i, sizeof v);
    if (!std::isfinite(v)) return false;
  }
  return true;
}

}  // namespace

TensorFile model_state(Module& model, const std::map<std::string, std::string>& metadata) {
  TensorFile file;
  file.metadata = metadata;
  for (auto& [name, p] : model.named_parameters()) file.add(name, p->var.value());
  for (auto& [name, b] : model.named_buffers()) file.add(name, *b);
  for (auto& [name, c] : model.named_counters()) file.add_i64(name, *c);
  return file;
}

void save_model(Module& model, const std::string& path, const std::map<std::string, std::string>& metadata) {
  write_safetensors(model_state(model, metadata), path);
}

LoadReport load_model(Module& model, const std::string& path, const LoadOptions& options) {
  return load_model(model, read_safetensors(path), options);
}

LoadReport load_model(Module& model, const TensorFile& file, const LoadOptions& options) {
  const bool partial = options.partial;
  LoadReport report;
  auto skipped = [&](const std::string& name) {
    for (const auto& prefix : options.skip)
      if (name.rfind(prefix, 0) == 0) return true;
    return false;
  };
  std::vector<std::pair<std::string, Tensor*>> floats;
  for (auto& [name, p] : model.named_parameters()) floats.emplace_back(name, &p->var.value());
  for (auto& [name, b] : model.named_buffers()) floats.emplace_back(name, b);
  auto counters = model.named_counters();

  std::vector<std::string> problems;
  std::set<std::string> expected;
  std::erase_if(floats, [&](const auto& entry) { return skipped(entry.first) && (report.skipped.push_back(entry.first), true); });
  std::erase_if(counters, [&](const auto& entry) { return skipped(entry.first) && (report.skipped.push_back(entry.first), true); });
  for (auto& [name, t] : floats) {
    expected.insert(name);
    const StoredTensor* s = file.find(name);
    if (!s) {
      if (!partial) problems.push_back("missing " + name);
      else report.kept.push_back(name);
    } else if (s->dtype != "F32") {
      problems.push_back(name + " is " + s->dtype + ", expected F32");
    } else if (s->shape != t->shape()) {
      problems.push_back(name + " has shape " + to_string(s->shape) + ", the model has " + to_string(t->shape()));
    }
  }
  for (auto& [name, c] : counters) {
    expected.insert(name);
    const StoredTensor* s = file.find(name);
    if (!s) {
      if (!partial) problems.push_back("missing " + name);
      else report.kept.push_back(name);
    } else if (s->dtype != "I64" || !s->shape.empty()) {
      problems.push_back(name + " is " + s->dtype + " " + to_string(s->shape) + ", expected I64 []");
    }
  }
  for (const auto& [name, s] : file.tensors)
    if (!expected.count(name) && !skipped(name)) problems.push_back("unexpected " + name);
  if (!problems.empty()) {
    std::string message = file.source + " does not fit this model";
    const auto it = file.metadata.find("model");
    if (it != file.metadata.end()) message += " (it holds a " + it->second + ")";
    message += ": ";
    for (size_t i = 0; i < problems.size() && i < 6; ++i) message += (i ? "; " : "") + problems[i];
    if (problems.size() > 6) message += "; and " + std::to_string(problems.size() - 6) + " more";
    fail(message);
  }
  for (auto& [name, t] : floats)
    if (const StoredTensor* s = file.find(name); s && !all_finite(*s))
      fail(file.source + ": " + name + " holds NaN or infinite values: it was saved from a network that diverged");
  for (auto& [name, t] : floats)
    if (file.find(name)) t->copy_from(file.tensor(name));
  for (auto& [name, c] : counters)
    if (file.find(name)) *c = file.i64(name);
  return report;
}

}  // namespace actlab
