// Training throughput of a model (ResNet-20 by default): images/s of full
// training steps (forward, cross-entropy, backward, SGD with momentum) at a
// given batch and input shape, and peak memory. One JSON line, for
// bench/compare_train.sh.
//   bench_train [--model M] [--act A] [--input C,H,W] [--batch B] [--threads T] [--steps N] [--warmup N]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "activations/activation.h"
#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/kernels.h"
#include "models/model.h"
#include "train/optimizer.h"

using namespace actlab;

int run(int argc, char** argv) {
  int64_t C = 3, H = 32, W = 32, batch = 128;
  int threads = 2, steps = 20, warmup = 3;
  std::string device_name = "cpu", act, model_name = "resnet20";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--input") std::sscanf(value, "%ld,%ld,%ld", &C, &H, &W);
    else if (flag == "--batch") batch = std::atol(value);
    else if (flag == "--threads") threads = std::atoi(value);
    else if (flag == "--steps") steps = std::atoi(value);
    else if (flag == "--warmup") warmup = std::atoi(value);
    else if (flag == "--device") device_name = value;
    else if (flag == "--act") act = value;
    else if (flag == "--model") model_name = value;
    else {
      std::fprintf(stderr, "bench_train: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  set_num_threads(threads);
  const Device device = parse_device(device_name);
  ModelConfig config;
  config.spec = model_name;
  config.in_channels = C;
  config.act = act;
  auto model = make_model(config);
  model->for_each_module([](const std::string&, Module& m) {   // PWLU: time the learning phase
    if (auto* a = dynamic_cast<Activation*>(&m)) a->start_epoch(1 << 20);
  });
  model->to(device);
  Sgd sgd(model->named_parameters(), SgdOptions{});
  Random rng(1);
  Tensor images = Tensor::empty({batch, C, H, W});
  for (int64_t i = 0; i < images.numel(); ++i) images.data()[i] = rng.normal();
  std::vector<int32_t> labels(batch);
  for (auto& l : labels) l = static_cast<int32_t>(rng.below(10));
  images = images.to(device);

  // Each step reads its loss back to the host, as a training loop does (and
  // so the GPU has finished the step before the clock is read).
  auto step = [&] {
    Var loss = ops::cross_entropy((*model)(Var(images)), labels);
    sgd.zero_grad();
    backward(loss);
    sgd.step(0.1f);
    return loss.value().item();
  };
  for (int i = 0; i < warmup; ++i) step();
  host_allocator::reset_peak();
  const auto start = std::chrono::steady_clock::now();
  float loss = 0.0f;
  for (int i = 0; i < steps; ++i) loss = step();
  model->named_parameters().back().second->var.value().to_vector();   // the last update has landed
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("{\"impl\": \"actlab\", \"model\": \"%s\", \"device\": \"%s\", \"act\": \"%s\", \"input\": \"%ld,%ld,%ld\", \"batch\": %ld, \"threads\": %d, "
              "\"images_per_s\": %.1f, \"last_loss\": %.4f, \"peak_tensor_mib\": %.1f, \"max_rss_mib\": %.1f}\n",
              model_name.c_str(), device_name.c_str(), (act.empty() ? default_activation(model_name) : act).c_str(), C, H, W, batch, threads, steps * batch / seconds, loss, host_allocator::peak_bytes_in_use() / 1048576.0,
              usage.ru_maxrss / 1024.0);
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_train: error: %s\n", error.what());
    return 1;
  }
}
