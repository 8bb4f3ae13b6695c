// Forward + backward time of one convolution through the tape, as a training step runs it:
// y = conv2d(x, w, no bias, stride, pad, groups), then backward from y seeded with a random dy, which
// computes dx and dw (PyTorch's y.backward(dy) with x and w requiring grad). groups defaults to C
// (depthwise, MobileNetV2's 3x3 layers). Prints one JSON line: medians over --reps of the forward
// alone and of forward + backward, and the bytes a depthwise step must move at least (forward reads x
// and writes y; dx reads dy and writes dx; dw reads x and dy: 3·(|x| + |y|) floats).
//   bench_conv --shape N,C,H,W [--stride S] [--kernel R] [--pad P] [--groups G] [--threads T]
//              [--reps R] [--warmup W]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "core/error.h"
#include "core/kernels.h"
#include "core/random.h"

using namespace actlab;

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  int64_t N = 128, C = 144, H = 32, W = 32, R = 3, groups = 0;
  int stride = 1, pad = -1, threads = 2, reps = 20, warmup = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--shape") std::sscanf(value, "%ld,%ld,%ld,%ld", &N, &C, &H, &W);
    else if (flag == "--stride") stride = std::atoi(value);
    else if (flag == "--kernel") R = std::atol(value);
    else if (flag == "--pad") pad = std::atoi(value);
    else if (flag == "--groups") groups = std::atol(value);
    else if (flag == "--threads") threads = std::atoi(value);
    else if (flag == "--reps") reps = std::atoi(value);
    else if (flag == "--warmup") warmup = std::atoi(value);
    else {
      std::fprintf(stderr, "bench_conv: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (pad < 0) pad = static_cast<int>(R / 2);
  if (groups == 0) groups = C;
  try {
    set_num_threads(threads);
    Random rng(1);
    auto random = [&](Shape shape, float scale) {
      Tensor t = Tensor::empty(std::move(shape));
      for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = rng.uniform(-scale, scale);
      return t;
    };
    Var x(random({N, C, H, W}, 1.0f), true);
    Var w(random({C, C / groups, R, R}, 0.3f), true);
    const int64_t P = (H + 2 * pad - R) / stride + 1, Q = (W + 2 * pad - R) / stride + 1;
    const Tensor dy = random({N, C, P, Q}, 1.0f);
    std::vector<double> forward_ms, step_ms;
    for (int r = 0; r < warmup + reps; ++r) {
      x.set_grad(Tensor());
      w.set_grad(Tensor());
      const auto start = std::chrono::steady_clock::now();
      Var y = ops::conv2d(x, w, Var(), stride, pad, static_cast<int>(groups));
      const auto middle = std::chrono::steady_clock::now();
      backward(y, dy);
      const auto stop = std::chrono::steady_clock::now();
      if (r >= warmup) {
        forward_ms.push_back(std::chrono::duration<double, std::milli>(middle - start).count());
        step_ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
      }
    }
    const double bytes = 3.0 * 4.0 * static_cast<double>(N * C * (H * W + P * Q));
    const double ms = median(step_ms);
    std::printf("{\"impl\": \"actlab\", \"shape\": \"%ld,%ld,%ld,%ld\", \"kernel\": %ld, \"stride\": %d, \"pad\": %d, "
                "\"groups\": %ld, \"threads\": %d, \"forward_ms\": %.4f, \"ms\": %.4f, \"bytes\": %.0f, "
                "\"gb_per_s\": %.2f}\n",
                N, C, H, W, R, stride, pad, groups, threads, median(forward_ms), ms, bytes, bytes / (ms * 1e6));
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_conv: %s\n", e.what());
    return 1;
  }
  return 0;
}
