// A run directory (RUN_DIR) and what it promises after a crash, a full disk or
// a kill (docs/RUNS.md):
//   - one writer: the run holds a lock (flock on RUN_DIR/.lock) while it runs,
//     and a second run into the same directory stops with an error;
//   - one commit per epoch: the new model.safetensors and best.safetensors are
//     written complete as *.next, config.json is replaced (a resumed run's
//     flags), then state.safetensors (the resume state,
//     which also holds every line of metrics.jsonl) replaces the old one by a
//     rename, which is the commit; only then do the *.next files take their
//     names and metrics.jsonl get the new line;
//   - recovery when a run opens the directory: *.next files of the committed
//     step take their places, those of an uncommitted one and temporary files
//     of dead writers are removed, and metrics.jsonl is rewritten from the
//     state, so what a kill leaves is the last complete epoch, or no epoch.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "train/safetensors.h"

namespace actlab {

class RunDir {
 public:
  // Creates `path` if needed and takes its lock; throws Error when another
  // process holds it.
  explicit RunDir(std::string path);
  ~RunDir();
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const;

  // The committed resume state, after finishing or undoing an interrupted
  // commit; nothing when no epoch was committed.
  std::optional<TensorFile> recover();

  // One epoch's commit: `state` must hold "step" (I64); the model and best
  // files are stamped with it. `metrics` is every line so far, the new one
  // last; `config` (config.json's text) is written before the state.
  void commit(TensorFile model, std::optional<TensorFile> best, TensorFile state,
              const std::vector<std::string>& metrics, const std::string& config);

  // The metrics lines a state carries (a state written before they were kept
  // there: metrics.jsonl's lines up to its step).
  std::vector<std::string> metrics_of(const TensorFile& state) const;

 private:
  std::string path_;
  int lock_fd_ = -1;
};

}  // namespace actlab
