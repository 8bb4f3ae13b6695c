// Batch preparation and the worker threads that run ahead of the model (see loader.h).
#include "data/loader.h"

#include <algorithm>

#include "core/error.h"
#include "core/random.h"
#include "data/image.h"

namespace actlab {
namespace {

constexpr int kCropPad = 4;
constexpr int64_t kAhead = 2;  // batches prepared ahead of the model (at least)

constexpr auto mix = mix_seed;   // core/random.h: independent streams from (seed, epoch, sample)

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

uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t sample) {
  // Its own stream, apart from the shuffle's mix(seed, 2·epoch + 1).
  return mix(mix(seed, 0x696d616765ull /* "image" */), mix(static_cast<uint64_t>(epoch), static_cast<uint64_t>(sample)));
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
  const int64_t threads = std::max(1, options.threads);
  // An in-memory batch is one work item (its augmentation is one random
  // stream); an image file is one, so a batch's decoding is shared.
  piece_ = data.on_disk ? 1 : std::max<int64_t>(1, options.batch);
  ahead_ = data.on_disk ? std::max<int64_t>(kAhead, (threads + options.batch - 1) / std::max<int64_t>(1, options.batch) + 1)
                        : std::max<int64_t>(kAhead, threads);
  slots_.resize(ahead_);
  if (batches_ == 0) return;
  const int64_t items = data.on_disk ? n : batches_;
  try {
    for (int64_t t = 0; t < std::min(threads, items); ++t) workers_.emplace_back([this] { work(); });
  } catch (...) {  // no thread to be had: stop those that started before the error leaves
    stop_workers();
    throw;
  }
}

Loader::~Loader() { stop_workers(); }

void Loader::stop_workers() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
}

int64_t Loader::batch_size(int64_t k) const {
  return std::min<int64_t>(options_.batch, static_cast<int64_t>(order_.size()) - k * options_.batch);
}

int64_t Loader::pieces(int64_t k) const { return (batch_size(k) + piece_ - 1) / piece_; }

void Loader::work() {
  try {
    std::unique_lock lock(mutex_);
    while (true) {
      changed_.wait(lock, [&] { return stop_ || error_ || next_batch_ >= batches_ || next_batch_ < consumed_ + ahead_; });
      if (stop_ || error_ || next_batch_ >= batches_) return;
      const int64_t k = next_batch_, piece = next_piece_;
      Slot& slot = slots_[k % ahead_];
      if (piece == 0) {
        const int64_t B = batch_size(k);
        slot.batch = k;
        slot.pieces_left = pieces(k);
        slot.failed.assign(B, std::string());
        slot.out = Batch{};
        if (data_.on_disk) {
          slot.out.images = Tensor::empty({B, data_.channels, data_.height, data_.width});
          slot.out.labels.resize(B);
        }
      }
      if (++next_piece_ == pieces(k)) ++next_batch_, next_piece_ = 0;
      lock.unlock();
      make_piece(slot, k, piece);   // other workers fill other rows of the same batch meanwhile
      lock.lock();
      if (--slot.pieces_left == 0) changed_.notify_all();
    }
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    if (!error_) error_ = std::make_exception_ptr(Error(std::string("data loader: ") + e.what()));
  } catch (...) {
    std::lock_guard lock(mutex_);
    if (!error_) error_ = std::make_exception_ptr(Error("data loader: unknown exception in a worker thread"));
  }
  changed_.notify_all();
}

void Loader::make_piece(Slot& slot, int64_t k, int64_t piece) {
  const int64_t begin = k * options_.batch + piece * piece_;
  if (!data_.on_disk) {
    std::vector<int64_t> samples(order_.begin() + begin, order_.begin() + begin + batch_size(k));
    slot.out = make_batch(data_, samples, options_.augment, mix(options_.seed, mix(2 * epoch_, k)));
    return;
  }
  const int64_t row = piece, s = order_[begin];
  slot.out.labels[row] = data_.labels[s];
  Image image;
  std::string why;
  if (!decode_image(data_.files[s], image, why)) {
    slot.failed[row] = data_.files[s] + " (" + (why.empty() ? "undecodable" : why) + ")";
    return;
  }
  Random rng(sample_seed(options_.seed, epoch_, s));
  float* out = slot.out.images.data() + row * data_.image_size();
  transform_image(image, static_cast<int>(data_.height), options_.augment, rng, data_.mean, data_.stddev, out);
}

bool Loader::next(Batch& batch) {
  while (consumed_ < batches_) {
    std::unique_lock lock(mutex_);
    Slot& slot = slots_[consumed_ % ahead_];
    changed_.wait(lock, [&] { return error_ || (slot.batch == consumed_ && slot.pieces_left == 0); });
    if (error_) std::rethrow_exception(error_);
    const int64_t B = static_cast<int64_t>(slot.failed.size());
    std::vector<int64_t> kept;
    for (int64_t b = 0; b < B; ++b) {
      if (slot.failed[b].empty())
        kept.push_back(b);
      else
        skipped_.push_back(slot.failed[b]);
    }
    if (static_cast<int64_t>(kept.size()) == B) {
      batch = std::move(slot.out);
    } else {  // leave the images that failed out
      const int64_t n = static_cast<int64_t>(kept.size()), size = data_.image_size();
      batch.images = Tensor::empty({n, data_.channels, data_.height, data_.width});
      batch.labels.resize(n);
      for (int64_t i = 0; i < n; ++i) {
        std::copy_n(slot.out.images.data() + kept[i] * size, size, batch.images.data() + i * size);
        batch.labels[i] = slot.out.labels[kept[i]];
      }
      slot.out = Batch{};
    }
    slot.batch = -1;
    ++consumed_;
    lock.unlock();
    changed_.notify_all();
    if (!batch.labels.empty()) return true;
  }
  return false;
}

}  // namespace actlab
