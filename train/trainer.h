// The three subcommands behind the CLI: train (the loop, evaluation each
// epoch, metrics, checkpoints, resume), eval and summary (SPEC 6).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "models/model.h"

namespace actlab {

struct ModelArgs {
  std::string model = "resnet20";
  std::string act;                    // empty: the model's own
  std::vector<std::string> act_at;
  int64_t in_channels = -1, classes = -1;   // -1: from the data set
};

struct TrainConfig {
  ModelArgs model;
  std::string data = "fashion-mnist";
  int64_t epochs = 30, max_steps = -1, batch = 128;
  float lr = 0.1f, momentum = 0.9f, wd = 1e-4f, warmup = 0.0f, label_smoothing = 0.0f;
  bool nesterov = false, augment = true, shuffle = true, json = false, deterministic = false;
  std::string wd_on = "weights", schedule = "cosine", device = "cpu";
  std::string conv_algorithm = "auto";   // CPU 3x3 convolutions: auto (oneDNN's choice, Winograd) or direct
  uint64_t seed = 0;
  int threads = 0;
  int64_t image_size = 0;             // imagefolder only; 0: 224
  int loader_threads = 0;             // imagefolder decoding; 0: one per core
  std::string init_from, resume, out;
  bool init_partial = false;     // --init-partial: tensors the file lacks keep their initial values
  bool init_skip_head = false;   // --init-skip-head: the classifier is not loaded (another class count)
};

struct EvalConfig {
  ModelArgs model;                    // where not given: what the checkpoint recorded
  bool model_given = false, act_given = false, act_at_given = false;
  std::string data = "fashion-mnist", checkpoint, split = "test", device = "cpu", conv_algorithm = "auto";
  int64_t batch = 256, limit = -1;
  bool json = false, deterministic = false;
  int threads = 0;
  int64_t image_size = 0;             // imagefolder only; 0: the checkpoint's input size, else 224
  int loader_threads = 0;
};

struct SummaryConfig {
  ModelArgs model;
  std::string input;                  // "C,H,W"; default from the model
  bool json = false;
  int threads = 0;
};

struct EvalResult {
  double loss = 0.0, accuracy = 0.0;
  int64_t samples = 0;
  std::vector<std::string> skipped;   // imagefolder files that failed to decode (not in samples)
};

int run_train(const TrainConfig& config);
// The settings a run recorded in RUN_DIR/config.json (for --resume).
TrainConfig read_train_config(const std::string& run_dir);
int run_eval(const EvalConfig& config);
int run_summary(const SummaryConfig& config);

// Mean loss and accuracy of a model (evaluation mode) on a data set.
EvalResult evaluate(Model& model, const Dataset& data, int64_t batch, int64_t limit, int loader_threads = 1);

}  // namespace actlab
