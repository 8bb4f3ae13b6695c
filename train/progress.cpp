// The progress bar (see progress.h).
#include "train/progress.h"

#include <unistd.h>

#include <cstdio>

namespace actlab {

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)), total_(total > 0 ? total : 1), tty_(::isatty(2)) {}

void ProgressBar::update(int64_t done, double loss, double accuracy, double images_per_s) {
  const auto now = std::chrono::steady_clock::now();
  const int decile = static_cast<int>(10 * done / total_);
  const bool last = done >= total_;
  // A terminal redraws at most every 100 ms; a log gets one line per tenth,
  // and the last state comes with finish(), also where a run stops inside
  // an epoch (--max-steps), so the line is kept up to date at every step.
  const bool draw = tty_ ? (last || now - last_draw_ >= std::chrono::milliseconds(100))
                         : (decile != last_decile_ && !last);
  constexpr int width = 24;
  const int filled = static_cast<int>(width * done / total_);
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, "%s [%-*s] %lld/%lld  loss %.4f  acc %5.2f%%  %.0f img/s", label_.c_str(),
                width, std::string(filled, '#').c_str(), static_cast<long long>(done),
                static_cast<long long>(total_), loss, 100.0 * accuracy, images_per_s);
  line_ = buffer;
  if (!draw) return;
  last_draw_ = now;
  last_decile_ = decile;
  if (tty_) std::fprintf(stderr, "\r%s\033[K", buffer);
  else std::fprintf(stderr, "%s\n", buffer);
  std::fflush(stderr);
}

void ProgressBar::finish(const std::string& tail) {
  if (tty_) std::fprintf(stderr, "\r%s  %s\033[K\n", line_.c_str(), tail.c_str());
  else std::fprintf(stderr, "%s  %s\n", line_.c_str(), tail.c_str());
  std::fflush(stderr);
}

}  // namespace actlab
