// A one-line progress bar on stderr: redrawn in place on a terminal, a line
// every tenth of the epoch otherwise (logs, CI).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace actlab {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total);
  void update(int64_t done, double loss, double accuracy, double images_per_s);
  void finish(const std::string& tail);

 private:
  std::string label_;
  int64_t total_;
  bool tty_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point last_draw_{};
  std::string line_;
};

}  // namespace actlab
