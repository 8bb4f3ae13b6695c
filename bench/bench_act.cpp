// Forward + backward time of activations' fused kernels through the tape, as
// a training step runs them: y = act(x), then backward from y seeded with a
// random dy (PyTorch's y.backward(dy)). --act and --shape may be repeated;
// for each activation and shape, one JSON line with the median over --reps
// timed repetitions.
//   bench_act --act SPEC... --shape N,C,H,W... [--threads T] [--device cpu|cuda] [--reps R] [--warmup W]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "activations/activation.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/kernels.h"

using namespace actlab;

namespace {

struct BenchShape {
  int64_t N, C, H, W;
};

double median_ms(const std::string& spec, const BenchShape& s, Device device, int reps, int warmup) {
  Random rng(1);
  auto act = make_activation(spec, s.C, rng);
  act->start_epoch(1 << 20);   // PWLU: the learning phase, every parameter gets its gradient
  act->to(device);
  Tensor x = Tensor::empty({s.N, s.C, s.H, s.W}), dy = Tensor::empty({s.N, s.C, s.H, s.W});
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = rng.normal();
  for (int64_t i = 0; i < dy.numel(); ++i) dy.data()[i] = rng.normal();
  x = x.to(device);
  dy = dy.to(device);
  Var input(x, true);
  std::vector<double> ms;
  for (int r = 0; r < warmup + reps; ++r) {
    input.set_grad(Tensor());
    const auto start = std::chrono::steady_clock::now();
    Var y = (*act)(input);
    backward(y, dy);
    // Waits for the GPU by reading one value back (4 bytes); on the CPU the work is done already.
    if (device == Device::cuda) (void)input.grad().view({x.numel()}).slice(0, 1).item();
    const auto stop = std::chrono::steady_clock::now();
    if (r >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> specs;
  std::vector<BenchShape> shapes;
  std::string device_name = "cpu";
  int threads = 2, reps = 20, warmup = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--act") {
      specs.push_back(value);
    } else if (flag == "--shape") {
      BenchShape s{};
      if (std::sscanf(value, "%ld,%ld,%ld,%ld", &s.N, &s.C, &s.H, &s.W) != 4) {
        std::fprintf(stderr, "bench_act: --shape wants N,C,H,W (got %s)\n", value);
        return 2;
      }
      shapes.push_back(s);
    } else if (flag == "--threads") {
      threads = std::atoi(value);
    } else if (flag == "--device") {
      device_name = value;
    } else if (flag == "--reps") {
      reps = std::atoi(value);
    } else if (flag == "--warmup") {
      warmup = std::atoi(value);
    } else {
      std::fprintf(stderr, "bench_act: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (specs.empty()) specs.push_back("swish");
  if (shapes.empty()) shapes.push_back({128, 16, 32, 32});
  if (reps < 1) reps = 1;
  try {
    set_num_threads(threads);
    const Device device = parse_device(device_name);
    for (const std::string& spec : specs)
      for (const BenchShape& s : shapes)
        std::printf("{\"impl\": \"actlab\", \"act\": \"%s\", \"shape\": \"%ld,%ld,%ld,%ld\", \"device\": \"%s\", "
                    "\"threads\": %d, \"ms\": %.4f}\n",
                    spec.c_str(), s.N, s.C, s.H, s.W, device_name.c_str(), threads,
                    median_ms(spec, s, device, reps, warmup));
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_act: %s\n", e.what());
    return 1;
  }
  return 0;
}
