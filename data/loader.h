// Batches for training and evaluation: seeded shuffling, augmentation and
// normalisation, prepared by worker threads a few batches ahead of the model.
// In-memory sets (IDX, CIFAR): random crop (4-pixel zero padding) and flip,
// one batch per work item. imagefolder: each image is decoded and transformed
// on its own (data/image.h), so several workers share a batch. The order and
// the augmentation depend only on (seed, epoch) — for an imagefolder on
// (seed, epoch, sample) — never on timing or the number of workers.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/tensor.h"
#include "data/dataset.h"

namespace actlab {

struct Batch {
  Tensor images;                 // [B, C, H, W], normalised
  std::vector<int32_t> labels;   // [B]
};

struct LoaderOptions {
  int64_t batch = 128;
  bool shuffle = true;
  bool augment = true;           // imagefolder: random-resized-crop + flip; otherwise resize + centre crop
  uint64_t seed = 0;
  int64_t limit = -1;            // use only the first `limit` samples (file order)
  int threads = 1;               // worker threads
};

// Builds one batch of an in-memory data set from the given samples (exposed for tests).
Batch make_batch(const Dataset& data, const std::vector<int64_t>& samples, bool augment, uint64_t augment_seed);
// The seed of an imagefolder sample's augmentation in an epoch.
uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t sample);

// An image that fails to decode is left out of its batch, which is then
// smaller (a batch that loses every image is not handed out at all); the file
// is listed in skipped(). An exception in a worker (not a bad file: a bug or
// no memory) stops the workers and is thrown by next().
class Loader {
 public:
  Loader(const Dataset& data, const LoaderOptions& options, int64_t epoch);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;
  bool next(Batch& batch);       // false after the last batch of the epoch
  int64_t batches() const { return batches_; }
  int64_t samples() const { return static_cast<int64_t>(order_.size()); }
  // "file (reason)" for each image that failed to decode in the batches handed out so far.
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  // A batch being built: `pieces_left` work items still to finish.
  struct Slot {
    int64_t batch = -1;
    int64_t pieces_left = 0;
    Batch out;
    std::vector<std::string> failed;   // per row: why its image was skipped, empty if it was not
  };
  void work();
  void stop_workers();
  void make_piece(Slot& slot, int64_t k, int64_t piece);
  int64_t batch_size(int64_t k) const;
  int64_t pieces(int64_t k) const;

  const Dataset& data_;
  LoaderOptions options_;
  int64_t epoch_;
  std::vector<int64_t> order_;
  int64_t batches_ = 0;
  int64_t piece_ = 1;                // samples per work item: the whole batch in memory, one image on disk
  int64_t ahead_ = 2;                // batches in flight
  std::vector<Slot> slots_;          // batch k lives in slots_[k % ahead_]
  std::mutex mutex_;
  std::condition_variable changed_;
  int64_t next_batch_ = 0, next_piece_ = 0;   // the next work item
  int64_t consumed_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
  std::vector<std::string> skipped_;
  std::vector<std::thread> workers_;
};

}  // namespace actlab
