// The run directory's lock, commit and recovery (see run_dir.h).
#include "train/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace actlab {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kModel = "model.safetensors";
constexpr const char* kBest = "best.safetensors";
constexpr const char* kState = "state.safetensors";
constexpr const char* kMetrics = "metrics.jsonl";
constexpr const char* kConfig = "config.json";
constexpr const char* kLock = ".lock";
constexpr const char* kNext = ".next";

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

RunDir::RunDir(std::string path) : path_(std::move(path)) {
  std::error_code error;
  fs::create_directories(path_, error);
  if (error || !fs::is_directory(path_))
    fail("cannot use " + path_ + " as a run directory: " + (error ? error.message() : "it is not a directory"));
  const std::string lock = file(kLock);
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) fail("cannot open " + lock + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const std::string holder = read_text(lock);
    ::close(lock_fd_);
    lock_fd_ = -1;
    fail(path_ + " is in use by another actlab run" + (holder.empty() ? "" : " (process " + holder + ")") +
         "; wait for it to end, or give this run another --out");
  }
  // The holder's pid, for the message above; the lock itself is the flock,
  // which the kernel drops when this process ends, however it ends.
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
    // Only the message loses the pid.
  }
}

RunDir::~RunDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string RunDir::file(const std::string& name) const { return (fs::path(path_) / name).string(); }

std::optional<TensorFile> RunDir::recover() {
  // Temporary files of writers that died (none is alive while we hold the
  // lock): "<one of our files>[.next].tmp.<pid>", nothing else a user keeps here.
  for (const auto& entry : fs::directory_iterator(path_)) {
    const std::string name = entry.path().filename().string();
    for (const char* ours : {kModel, kBest, kState, kMetrics, kConfig, "classes.txt"})
      if (name.rfind(std::string(ours) + ".tmp.", 0) == 0 || name.rfind(std::string(ours) + kNext + ".tmp.", 0) == 0)
        fs::remove(entry.path());
  }

  std::optional<TensorFile> state;
  if (fs::exists(file(kState))) state = read_safetensors(file(kState));
  const std::string committed = state ? std::to_string(state->i64("step")) : "";
  for (const char* name : {kModel, kBest}) {
    const std::string next = file(name) + kNext;
    if (!fs::exists(next)) continue;
    bool ours = false;
    if (state) {
      try {
        const TensorFile written = read_safetensors(next);
        const auto it = written.metadata.find("step");
        ours = it != written.metadata.end() && it->second == committed;
      } catch (const Error&) {
        // A file the commit never finished: not the committed one.
      }
    }
    if (ours)
      rename_durably(next, file(name));
    else
      fs::remove(next);
  }
  if (state) {
    const std::string lines = joined(metrics_of(*state));
    if (!fs::exists(file(kMetrics)) || read_text(file(kMetrics)) != lines) write_file_atomic(file(kMetrics), lines);
  } else if (!fs::exists(file(kModel))) {
    fs::remove(file(kMetrics));   // a run that committed no epoch has no metrics
  }
  return state;
}

void RunDir::commit(TensorFile model, std::optional<TensorFile> best, TensorFile state,
                    const std::vector<std::string>& metrics, const std::string& config) {
  const std::string step = std::to_string(state.i64("step"));
  model.metadata["step"] = step;
  write_safetensors(model, file(kModel) + kNext);
  if (best) {
    best->metadata["step"] = step;
    write_safetensors(*best, file(kBest) + kNext);
  }
  if (!fs::exists(file(kConfig)) || read_text(file(kConfig)) != config) write_file_atomic(file(kConfig), config);
  state.metadata["metrics"] = json(metrics).dump();
  write_safetensors(state, file(kState));   // the commit
  rename_durably(file(kModel) + kNext, file(kModel));
  if (best) rename_durably(file(kBest) + kNext, file(kBest));
  write_file_atomic(file(kMetrics), joined(metrics));
}

std::vector<std::string> RunDir::metrics_of(const TensorFile& state) const {
  const auto it = state.metadata.find("metrics");
  if (it != state.metadata.end()) {
    try {
      return json::parse(it->second).get<std::vector<std::string>>();
    } catch (const json::exception&) {
      fail(state.source + ": its metrics record is malformed; the run cannot be resumed");
    }
  }
  // A state from before metrics were kept in it: metrics.jsonl's lines up to its step.
  const int64_t step = state.i64("step");
  std::vector<std::string> lines;
  std::ifstream in(file(kMetrics));
  for (std::string line; std::getline(in, line);) {
    const json record = json::parse(line, nullptr, false);
    if (!record.is_object()) continue;
    const auto at = record.find("step");
    if (at != record.end() && at->is_number_integer() && at->get<int64_t>() <= step) lines.push_back(line);
  }
  return lines;
}

}  // namespace actlab
