// Batch preparation and the one-ahead worker thread (see loader.h).
#include "data/loader.h"

#include <algorithm>

#include "core/random.h"

namespace actlab {
namespace {

constexpr int kCropPad = 4;
constexpr size_t kAhead = 2;  // batches prepared ahead of the model

uint64_t mix(uint64_t a, uint64_t b) {  // splitmix64 of a combination: independent streams
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

Batch make_batch(const Dataset& data, const std::vector<int64_t>& samples, bool augment, uint64_t augment_seed) {
  const int64_t B = static_cast<int64_t>(samples.size()), C = data.channels, H = data.height, W = data.width;
  Batch batch{Tensor::empty({B, C, H, W}), std::vector<int32_t>(B)};
  Random rng(augment_seed);
  float scale[3], shift[3];
  for (int64_t c = 0; c < C; ++c) {
    scale[c] = 1.0f / (255.0f * data.stddev[c]);
    shift[c] = -data.mean[c] / data.stddev[c];
  }
  for (int64_t b = 0; b < B; ++b) {
    const int64_t s = samples[b];
    batch.labels[b] = data.labels[s];
    const uint8_t* src = data.pixels.data() + s * data.image_size();
    float* dst = batch.images.data() + b * C * H * W;
    int dy = 0, dx = 0;
    bool flip = false;
    if (augment) {
      // Offsets of a random crop from the zero-padded image (torchvision's
      // RandomCrop(size, padding=4)), then a coin for the flip.
      dy = static_cast<int>(rng.below(2 * kCropPad + 1)) - kCropPad;
      dx = static_cast<int>(rng.below(2 * kCropPad + 1)) - kCropPad;
      flip = data.flip && rng.uniform() < 0.5;
    }
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t y = 0; y < H; ++y) {
        const int64_t sy = y + dy;
        for (int64_t x = 0; x < W; ++x) {
          const int64_t sx = (flip ? W - 1 - x : x) + dx;
          const float pixel = sy >= 0 && sy < H && sx >= 0 && sx < W ? src[(c * H + sy) * W + sx] : 0.0f;
          dst[(c * H + y) * W + x] = pixel * scale[c] + shift[c];
        }
      }
    }
  }
  return batch;
}

Loader::Loader(const Dataset& data, const LoaderOptions& options, int64_t epoch)
    : data_(data), options_(options), epoch_(epoch) {
  const int64_t n = options.limit >= 0 ? std::min(options.limit, data.count) : data.count;
  order_.resize(n);
  for (int64_t i = 0; i < n; ++i) order_[i] = i;
  if (options.shuffle) {
    Random rng(mix(options.seed, 2 * epoch_ + 1));
    for (int64_t i = n - 1; i > 0; --i) std::swap(order_[i], order_[rng.below(i + 1)]);
  }
  batches_ = options.batch > 0 ? (n + options.batch - 1) / options.batch : 0;
  worker_ = std::thread([this] { produce(); });
}

Loader::~Loader() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void Loader::produce() {
  for (int64_t k = 0; k < batches_; ++k) {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || ready_.size() < kAhead; });
      if (stop_) return;
    }
    const int64_t begin = k * options_.batch;
    const int64_t end = std::min<int64_t>(begin + options_.batch, static_cast<int64_t>(order_.size()));
    std::vector<int64_t> samples(order_.begin() + begin, order_.begin() + end);
    Batch batch = make_batch(data_, samples, options_.augment, mix(options_.seed, mix(2 * epoch_, k)));
    {
      std::lock_guard lock(mutex_);
      ready_.push_back(std::move(batch));
    }
    changed_.notify_all();
  }
}

bool Loader::next(Batch& batch) {
  if (consumed_ >= batches_) return false;
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !ready_.empty(); });
  batch = std::move(ready_.front());
  ready_.pop_front();
  ++consumed_;
  lock.unlock();
  changed_.notify_all();
  return true;
}

}  // namespace actlab
