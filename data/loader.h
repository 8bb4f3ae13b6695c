// Batches for training and evaluation: seeded shuffling, random crop (4-pixel
// zero padding) and horizontal flip, normalisation, all prepared on a worker
// thread one batch ahead of the model. The order and the augmentation depend
// only on (seed, epoch), never on timing.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
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
  bool augment = true;
  uint64_t seed = 0;
  int64_t limit = -1;            // use only the first `limit` samples (file order)
};

// Builds one batch from the given samples (exposed for tests).
Batch make_batch(const Dataset& data, const std::vector<int64_t>& samples, bool augment, uint64_t augment_seed);

class Loader {
 public:
  Loader(const Dataset& data, const LoaderOptions& options, int64_t epoch);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;
  bool next(Batch& batch);       // false after the last batch of the epoch
  int64_t batches() const { return batches_; }
  int64_t samples() const { return static_cast<int64_t>(order_.size()); }

 private:
  void produce();
  const Dataset& data_;
  LoaderOptions options_;
  int64_t epoch_;
  std::vector<int64_t> order_;
  int64_t batches_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> ready_;
  int64_t consumed_ = 0;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace actlab
