// train, eval and summary (see trainer.h).
#include "activations/activation.h"
#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>
#include <thread>

#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/device.h"
#include "core/error.h"
#include "core/kernels.h"
#include "data/imagefolder.h"
#include "data/loader.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"
#include "train/progress.h"
#include "train/run_dir.h"

namespace actlab {
namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kVersion = "0.1.0";
constexpr const char* kStateFile = "state.safetensors";

void use_threads(int threads) {
  set_num_threads(threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency()));
}

// Checks --device before anything is written; kernels(device) fails with a
// clear message when the backend or the GPU is missing.
Device use_device(const std::string& name, bool deterministic_algorithms) {
  const Device device = parse_device(name);
  kernels(device);
  set_deterministic(deterministic_algorithms);
  return device;
}

int loader_threads_of(int given) {
  return given > 0 ? given : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// --data with --image-size, which only an imagefolder takes (the other sets
// have one stored size, and a silently ignored flag would mislead).
DataSource data_source(const std::string& data, int64_t image_size) {
  DataSource source = parse_data_source(data);
  if (image_size != 0) {
    check(source.kind == "imagefolder", "--image-size applies to imagefolder data only; " + source.kind +
                                            " images are used at their stored size");
    check(image_size >= 1 && image_size <= 4096, "--image-size must be in 1..4096 (got " + std::to_string(image_size) + ")");
  }
  source.image_size = source.kind == "imagefolder" ? (image_size > 0 ? image_size : kDefaultImageSize) : 0;
  return source;
}

// What a reader found worth telling: counts, empty classes, files left out.
void print_notes(const Dataset& data) {
  for (const std::string& note : data.notes) std::fprintf(stderr, "data: %s\n", note.c_str());
}

std::shared_ptr<Model> build_model(const ModelArgs& a, int64_t in_channels, int64_t classes, uint64_t seed) {
  ModelConfig c;
  c.spec = a.model;
  c.act = a.act;
  c.act_at = a.act_at;
  c.in_channels = a.in_channels > 0 ? a.in_channels : in_channels;
  c.classes = a.classes > 0 ? a.classes : classes;
  c.seed = seed;
  return make_model(c);
}

// Memory a new allocation can still get: the kernel's MemAvailable, or less
// where a cgroup (a container) caps this process or ACTLAB_MEMORY_LIMIT
// (bytes, or with a K, M or G suffix: 8G) asks for less. 0 when unknown.
double available_host_bytes() {
  double cap = INFINITY;
  if (const char* text = std::getenv("ACTLAB_MEMORY_LIMIT")) {
    char* stop = nullptr;
    cap = std::strtod(text, &stop);
    const std::string unit = stop;
    const double scale = unit.empty() ? 1.0
                         : unit == "K" ? 1024.0
                         : unit == "M" ? 1048576.0
                         : unit == "G" ? 1073741824.0
                                       : 0.0;
    check(stop != text && std::isfinite(cap) && cap > 0.0 && scale > 0.0,
          std::string("ACTLAB_MEMORY_LIMIT: expected a size in bytes, or with K, M or G (e.g. 8G), got '") + text + "'");
    cap *= scale;
  }
  double available = 0.0;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  double kib = 0.0;
  while (meminfo >> key >> kib) {
    if (key == "MemAvailable:") available = kib * 1024.0;
    meminfo.ignore(64, '\n');
  }
  std::ifstream limit_file("/sys/fs/cgroup/memory.max"), current_file("/sys/fs/cgroup/memory.current");
  double limit = 0.0, current = 0.0;
  if (available > 0.0 && (limit_file >> limit) && (current_file >> current))   // "max" (no limit) fails to parse
    available = std::min(available, std::max(0.0, limit - current));
  return available > 0.0 ? std::min(available, cap) : std::isfinite(cap) ? cap : 0.0;
}

// A batch too large for this machine would have the kernel kill the run in
// its first step, with no message. So a throwaway copy of the model runs one
// step at 2 and at 4 samples (a training step's forward and backward, or an
// evaluation's forward; a few milliseconds for ResNet-20, under a second at
// 224 px) from an empty allocator cache. The bytes each leaves held (in use
// or cached: the cache keeps blocks a step used, so an evaluation holds every
// stage's outputs, not only the largest), extrapolated to the batch and, where
// it cannot reuse the full batches' blocks, to an epoch's last, smaller batch
// of the `count` samples, plus the loader's copies, must fit in the memory
// available. Measured against the process's peak resident size, ResNet-20 on
// Fashion-MNIST: one training step at batch 8000, 22.1 GiB estimated, 19.8
// GiB held; an evaluation at batch 30000, 16.0 estimated, 14.1 held (before
// blocks were reused best-fit).
enum class Pass { training, evaluation };

void check_batch_fits(const ModelArgs& a, const Dataset& set, int64_t batch, int64_t count, Pass pass) {
  const double available = available_host_bytes();
  if (std::min(batch, count) <= 4 || available <= 0.0) return;
  auto probe = build_model(a, set.channels, set.classes, 0);
  probe->train(pass == Pass::training);
  const auto held_bytes = [&](int64_t n) {
    for (auto& [name, p] : probe->named_parameters()) p->var.set_grad(Tensor());
    host_allocator::empty_cache();
    const double before = static_cast<double>(host_allocator::bytes_held());
    {
      std::optional<NoGradScope> no_grad;
      if (pass == Pass::evaluation) no_grad.emplace();
      const Var logits = (*probe)(Var(Tensor::zeros({n, set.channels, set.height, set.width})));
      const Var loss = ops::cross_entropy(logits, std::vector<int32_t>(n, 0));
      if (pass == Pass::training) backward(loss);
    }
    return static_cast<double>(host_allocator::bytes_held()) - before;
  };
  const double at2 = held_bytes(2), at4 = held_bytes(4);
  host_allocator::empty_cache();
  constexpr double kLoaderCopies = 3.0;   // float copies of each sample the loader holds: batches ready and in hand
  const double per_sample =
      std::max(0.0, (at4 - at2) / 2.0) + kLoaderCopies * sizeof(float) * static_cast<double>(set.image_size());
  const auto footprint = [&](int64_t n) { return n > 0 ? at2 + per_sample * static_cast<double>(n - 2) : 0.0; };
  // An epoch's last, smaller batch runs in the full batches' blocks where each
  // of its tensors needs at least half the block (host_allocator's rule); with
  // the buckets' rounding that holds from 5/8 of the batch on.
  const auto last_extra = [&](int64_t b) {
    const int64_t rest = count > b ? count % b : 0;
    return 8 * rest < 5 * b ? rest : 0;
  };
  const auto need = [&](int64_t b) { return footprint(std::min(b, count)) + footprint(last_extra(b)); };
  if (need(batch) <= available) return;
  const auto size = [](double bytes) {
    char text[32];
    if (bytes >= 1073741824.0)
      std::snprintf(text, sizeof text, "%.1f GiB", bytes / 1073741824.0);
    else
      std::snprintf(text, sizeof text, "%.0f MiB", bytes / 1048576.0);
    return std::string(text);
  };
  int64_t fits = std::max<int64_t>(1, std::min(batch, 2 + static_cast<int64_t>((available - at2) / per_sample)));
  while (fits > 1 && need(fits) > available) --fits;
  const std::string advice = need(fits) <= available ? "--batch " + std::to_string(fits) + " fits"
                                                     : "not even --batch 1 fits";
  const int64_t rest = last_extra(batch);
  fail("--batch " + std::to_string(batch) + ": " + (pass == Pass::training ? "training" : "evaluation") +
       " would hold about " + size(need(batch)) + " (" + std::to_string(static_cast<int64_t>(per_sample / 1024.0)) +
       " KiB per sample" + (rest ? ", the last batch of " + std::to_string(rest) + " included" : std::string()) +
       "), more than the " + size(available) + " of memory available; " + advice);
}

std::string act_of(const ModelArgs& a) { return a.act.empty() ? default_activation(a.model) : a.act; }

std::map<std::string, std::string> checkpoint_metadata(const ModelArgs& a, int64_t in_channels, int64_t classes,
                                                       const std::string& input,
                                                       const std::vector<std::string>& class_names) {
  json act_at = a.act_at;
  std::map<std::string, std::string> m{{"format", "actlab"},
                                       {"model", a.model},
                                       {"act", act_of(a)},
                                       {"act_at", act_at.dump()},
                                       {"classes", std::to_string(classes)},
                                       {"input", input.empty() ? std::to_string(in_channels) : input},
                                       {"version", kVersion}};
  if (!class_names.empty()) m["class_names"] = json(class_names).dump();
  return m;
}

// Rows whose largest logit is the label's, from the logits' values (K per row).
int64_t count_correct(const std::vector<float>& z, int64_t K, const std::vector<int32_t>& labels) {
  int64_t correct = 0;
  for (size_t n = 0; n < labels.size(); ++n) {
    const float* row = z.data() + n * K;
    correct += std::max_element(row, row + K) - row == labels[n];
  }
  return correct;
}

int64_t count_correct(const Tensor& logits, const std::vector<int32_t>& labels) {
  return count_correct(logits.to_vector(), logits.size(1), labels);
}

// What the progress line needs from one training step, on its way to the
// host. The trainer queues step t + 1 before it reads step t, so on a GPU the
// device never waits for the host between steps.
struct StepValues {
  PendingValues loss, logits;
  int64_t classes = 0;
  std::vector<int32_t> labels;
  int64_t step = 0, epoch = 0, done = 0;
};

// A float flag as the user wrote it (1e-4f shows as 0.0001, not 9.99999975e-05).
double decimal(float v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.7g", static_cast<double>(v));
  return std::strtod(text, nullptr);
}

json config_json(const TrainConfig& c, const std::string& out, const DataSource& source) {
  return {{"model", c.model.model},
          {"act", act_of(c.model)},
          {"act_at", c.model.act_at},
          {"in_channels", c.model.in_channels},
          {"classes", c.model.classes},
          {"data", c.data},
          {"image_size", source.image_size > 0 ? json(source.image_size) : json(nullptr)},
          {"epochs", c.epochs},
          {"max_steps", c.max_steps},
          {"batch", c.batch},
          {"lr", decimal(c.lr)},
          {"momentum", decimal(c.momentum)},
          {"nesterov", c.nesterov},
          {"wd", decimal(c.wd)},
          {"wd_on", c.wd_on},
          {"schedule", c.schedule},
          {"warmup", decimal(c.warmup)},
          {"label_smoothing", decimal(c.label_smoothing)},
          {"augment", c.augment},
          {"shuffle", c.shuffle},
          {"seed", c.seed},
          {"device", c.device},
          {"deterministic", c.deterministic},
          {"conv_algorithm", c.conv_algorithm},
          {"threads", num_threads()},
          {"loader_threads", loader_threads_of(c.loader_threads)},
          {"init_from", c.init_from},
          {"init_partial", c.init_partial},
          {"init_skip_head", c.init_skip_head},
          {"resume", c.resume},
          {"out", out},
          {"version", kVersion}};
}

// --init-from, with the partial and head-skipping loads a fine-tuning run asks for.
void load_initial_weights(Model& model, const TrainConfig& c) {
  LoadOptions options;
  options.partial = c.init_partial;
  if (c.init_skip_head) options.skip.push_back(model.head() + ".");
  LoadReport report;
  try {
    report = load_model(model, c.init_from, options);
  } catch (const Error& e) {
    fail("--init-from: " + std::string(e.what()) +
         (c.init_partial ? "" : " (--init-partial keeps tensors the file lacks at their initial values") +
         (c.init_skip_head ? ")" : "; --init-skip-head leaves the classifier out)"));
  }
  auto list = [](const std::vector<std::string>& names) {
    std::string text;
    for (size_t i = 0; i < names.size() && i < 4; ++i) text += (i ? ", " : "") + names[i];
    return names.size() > 4 ? text + ", ..." : text;
  };
  if (!report.kept.empty())
    std::printf("--init-from: %zu tensors not in %s keep their initial values (%s)\n", report.kept.size(),
                c.init_from.c_str(), list(report.kept).c_str());
  if (!report.skipped.empty())
    std::printf("--init-from: the classifier (%s) is not loaded\n", list(report.skipped).c_str());
}

std::string default_run_dir(const TrainConfig& c) {
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  std::string act = act_of(c.model);
  std::replace_if(act.begin(), act.end(), [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)) && ch != '-'; }, '_');
  return "runs/" + c.model.model + "-" + act + "-" + stamp;
}

}  // namespace

TrainConfig read_train_config(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "config.json").string();
  check(fs::is_regular_file(path), "--resume: " + run_dir + " holds no config.json (not an actlab run directory)");
  std::ifstream in(path);
  TrainConfig c;
  try {
    const json j = json::parse(in);
    c.model.model = j.at("model");
    c.model.act = j.at("act");
    c.model.act_at = j.at("act_at").get<std::vector<std::string>>();
    c.model.in_channels = j.at("in_channels");
    c.model.classes = j.at("classes");
    c.data = j.at("data");
    if (j.contains("image_size") && !j["image_size"].is_null()) c.image_size = j["image_size"];
    c.epochs = j.at("epochs");
    c.max_steps = j.at("max_steps");
    c.batch = j.at("batch");
    c.lr = j.at("lr");
    c.momentum = j.at("momentum");
    c.nesterov = j.at("nesterov");
    c.wd = j.at("wd");
    c.wd_on = j.at("wd_on");
    c.schedule = j.at("schedule");
    c.warmup = j.at("warmup");
    c.label_smoothing = j.at("label_smoothing");
    c.augment = j.at("augment");
    c.shuffle = j.at("shuffle");
    c.seed = j.at("seed");
    c.device = j.at("device");
    c.deterministic = j.value("deterministic", false);
    c.conv_algorithm = j.value("conv_algorithm", "auto");
    c.init_from = j.at("init_from");
    c.init_partial = j.value("init_partial", false);
    c.init_skip_head = j.value("init_skip_head", false);
  } catch (const json::exception& e) {
    fail("--resume: " + path + " is not a readable actlab config (" + e.what() + ")");
  }
  c.resume = run_dir;
  return c;
}

EvalResult evaluate(Model& model, const Dataset& data, int64_t batch, int64_t limit, int loader_threads) {
  NoGradScope no_grad;
  const bool was_training = model.training();
  model.eval();
  LoaderOptions options;
  options.batch = batch;
  options.shuffle = false;
  options.augment = false;
  options.limit = limit;
  options.threads = loader_threads;
  Loader loader(data, options, 0);
  const Device device = model.device();
  double loss_sum = 0.0;
  int64_t correct = 0, seen = 0;
  Batch b;
  while (loader.next(b)) {
    Var logits = model(Var(b.images.to(device)));
    const double loss = ops::cross_entropy(logits, b.labels).value().item();
    loss_sum += loss * static_cast<double>(b.labels.size());
    correct += count_correct(logits.value(), b.labels);
    seen += static_cast<int64_t>(b.labels.size());
  }
  model.train(was_training);
  EvalResult r;
  r.skipped = loader.skipped();
  r.samples = seen;
  r.loss = seen ? loss_sum / static_cast<double>(seen) : 0.0;
  r.accuracy = seen ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
  return r;
}

// A number the resume state records as text; a malformed one is an error
// naming the file, not std::stod's "stod".
double stored_number(const TensorFile& state, const std::string& key, double fallback) {
  const auto it = state.metadata.find(key);
  if (it == state.metadata.end()) return fallback;
  char* stop = nullptr;
  const double value = std::strtod(it->second.c_str(), &stop);
  check(!it->second.empty() && *stop == '\0', state.source + ": its " + key + " ('" + it->second +
                                                  "') is not a number; the run cannot be resumed");
  return value;
}

// visit(position name, activation) for every activation position of the model.
template <class Visit>
void for_each_activation(Model& model, const Visit& visit) {
  model.for_each_module([&](const std::string& name, Module& m) {
    if (auto* act = dynamic_cast<Activation*>(&m)) visit(name, *act);
  });
}

// Each activation's schedule state (PWLU's phase) as "schedule.<position>".
void save_schedules(Model& model, TensorFile& state) {
  for_each_activation(model, [&](const std::string& name, Activation& act) {
    if (const int64_t s = act.schedule_state()) state.add_i64("schedule." + name, s);
  });
}

void restore_schedules(Model& model, const TensorFile& state) {
  for_each_activation(model, [&](const std::string& name, Activation& act) {
    if (state.find("schedule." + name)) act.restore_schedule_state(state.i64("schedule." + name));
  });
}

// The name of the first parameter or buffer holding NaN or infinity, or "".
std::string first_non_finite(Model& model) {
  const Kernels& k = kernels(model.device());
  for (auto& [name, p] : model.named_parameters())
    if (!k.all_finite(p->var.value())) return name;
  for (auto& [name, b] : model.named_buffers())
    if (!k.all_finite(*b)) return name;
  return {};
}

int run_train(const TrainConfig& c) {
  use_threads(c.threads);
  // Check everything a user can get wrong before anything is written.
  check(c.batch >= 1, "--batch must be at least 1 (got " + std::to_string(c.batch) + ")");
  check(c.epochs >= 1 || c.max_steps >= 1, "--epochs must be at least 1");
  check(c.lr >= 0 && std::isfinite(c.lr), "--lr must be a non-negative number");
  check(c.momentum >= 0 && c.momentum < 1, "--momentum must be in [0, 1)");
  check(c.wd >= 0, "--wd must be non-negative");
  check(c.warmup >= 0, "--warmup must be non-negative");
  check(c.label_smoothing >= 0 && c.label_smoothing < 1, "--label-smoothing must be in [0, 1)");
  check(c.wd_on == "weights" || c.wd_on == "all", "--wd-on must be weights or all (got '" + c.wd_on + "')");
  check(!c.init_from.empty() || (!c.init_partial && !c.init_skip_head),
        "--init-partial and --init-skip-head apply to --init-from, which was not given");
  const Device device = use_device(c.device, c.deterministic);
  set_conv_algorithm(parse_conv_algorithm(c.conv_algorithm));
  Schedule schedule = Schedule::parse(c.schedule);
  const DataSource source = data_source(c.data, c.image_size);
  const int loader_threads = loader_threads_of(c.loader_threads);
  std::fprintf(stderr, "loading %s from %s\n", source.kind.c_str(), source.path.c_str());
  const Dataset train_set = load_dataset(source, Split::train);
  print_notes(train_set);
  const Dataset test_set = load_dataset(source, Split::test);
  print_notes(test_set);
  check(train_set.count > 0, "--data: the training split of " + source.path + " is empty");
  check(test_set.count > 0, "--data: the test split of " + source.path + " is empty; a run reports its test accuracy every epoch");
  {
    const double run_epochs = c.epochs > 0 ? static_cast<double>(c.epochs)
                                           : static_cast<double>(c.max_steps) * c.batch / static_cast<double>(train_set.count);
    char text[160];
    std::snprintf(text, sizeof text, "--warmup %g is longer than the run (%g epochs): the learning rate would never reach --lr",
                  static_cast<double>(c.warmup), run_epochs);
    check(c.warmup <= run_epochs, text);
  }
  if (device == Device::cpu) {   // on a GPU, cudaMalloc's failure says so itself
    // --max-steps short of an epoch never reaches its last, smaller batch.
    const bool whole_epoch = c.max_steps <= 0 || c.max_steps >= (train_set.count + c.batch - 1) / c.batch;
    check_batch_fits(c.model, train_set, c.batch, whole_epoch ? train_set.count : c.max_steps * c.batch,
                     Pass::training);
  }

  auto model = build_model(c.model, train_set.channels, train_set.classes, c.seed);
  const int64_t classes = c.model.classes > 0 ? c.model.classes : train_set.classes;
  const std::string out = !c.resume.empty() ? c.resume : (!c.out.empty() ? c.out : default_run_dir(c));
  RunDir run(out);   // locked until this function returns, however it returns
  const std::string model_path = run.file("model.safetensors");

  // What the directory holds: the last committed epoch (an interrupted commit
  // finished or undone), or nothing.
  const std::optional<TensorFile> state = run.recover();
  int64_t start_step = 0;
  double best_accuracy = -1.0;
  std::vector<std::string> metric_lines;
  if (state) {
    check(!c.resume.empty(), "--out: " + out + " already holds a run (" + std::to_string(state->i64("step")) +
                                 " steps done); use --resume " + out + " to continue it, or another --out");
    load_model(*model, model_path);
    start_step = state->i64("step");
    best_accuracy = stored_number(*state, "best_accuracy", -1.0);
    metric_lines = run.metrics_of(*state);
    restore_schedules(*model, *state);
  } else {
    check(!fs::exists(model_path), (c.resume.empty() ? "--out: " : "--resume: ") + out +
                                       " holds a model.safetensors but no resume state (" + kStateFile +
                                       "); it is not a run this version can continue: give another --out");
    if (!c.resume.empty())
      std::fprintf(stderr, "note: %s stopped before its first epoch was saved; it starts again from the beginning\n",
                   out.c_str());
    if (!c.init_from.empty()) load_initial_weights(*model, c);
  }
  model->to(device);
  SgdOptions sgd_options{c.momentum, c.wd, c.nesterov, c.wd_on == "all"};
  Sgd sgd(model->named_parameters(), sgd_options);
  if (state) sgd.load_state(*state);

  const int64_t steps_per_epoch = (train_set.count + c.batch - 1) / c.batch;
  const int64_t total_steps = c.max_steps > 0 ? std::min(c.max_steps, c.epochs > 0 ? c.epochs * steps_per_epoch : c.max_steps)
                                              : c.epochs * steps_per_epoch;
  const int64_t epochs = (total_steps + steps_per_epoch - 1) / steps_per_epoch;
  if (start_step >= total_steps)
    fail("--resume: " + out + " has done " + std::to_string(start_step) + " steps, and this run would stop at step " +
         std::to_string(total_steps) + " (" + std::to_string(steps_per_epoch) +
         " per epoch); give more --epochs, or a larger --max-steps, to train it further");
  schedule.lr = c.lr;
  schedule.steps_per_epoch = steps_per_epoch;
  schedule.total_steps = c.epochs > 0 ? c.epochs * steps_per_epoch : total_steps;
  schedule.warmup_steps = static_cast<int64_t>(std::llround(c.warmup * static_cast<double>(steps_per_epoch)));

  // A resumed run's settings are recorded with its first commit, so a run
  // that fails leaves the directory as it was; a new run records them now, so
  // that --resume can start it again should it stop before its first epoch.
  const json config = config_json(c, out, source);
  if (!state) write_file_atomic(run.file("config.json"), config.dump(2) + "\n");
  if (!train_set.class_names.empty()) {  // label k is line k + 1
    std::string lines;
    for (const std::string& name : train_set.class_names) lines += name + "\n";
    write_file_atomic(run.file("classes.txt"), lines);
  }
  std::fprintf(stderr, "actlab train: %s\n", config.dump().c_str());
  std::fprintf(stderr, "model %s: %lld parameters; %lld training and %lld test images; %lld steps per epoch\n",
               c.model.model.c_str(), static_cast<long long>(model->parameter_count()),
               static_cast<long long>(train_set.count), static_cast<long long>(test_set.count),
               static_cast<long long>(steps_per_epoch));

  std::set<std::string> notes;   // one per distinct activation spec, not one per position
  for_each_activation(*model, [&](const std::string&, Activation& act) {
    if (std::string note = act.schedule_note(epochs); !note.empty()) notes.insert(note);
  });
  for (const std::string& note : notes) std::fprintf(stderr, "note: %s\n", note.c_str());

  const std::string input = std::to_string(train_set.channels) + "," + std::to_string(train_set.height) + "," +
                            std::to_string(train_set.width);
  const auto metadata = checkpoint_metadata(c.model, train_set.channels, classes, input, train_set.class_names);
  // What a run that has to stop leaves behind, for its message.
  int64_t committed_step = start_step;
  const auto kept = [&] {
    return committed_step > 0 ? "the run as of step " + std::to_string(committed_step) + " is kept in " + out
                              : std::string("no epoch had been saved yet");
  };

  // An in-memory batch is a copy: one worker keeps ahead. Decoding images needs more.
  LoaderOptions loader_options{c.batch, c.shuffle, c.augment, c.seed, -1, train_set.on_disk ? loader_threads : 1};
  json last;
  int64_t step = start_step;
  model->train();
  for (int64_t epoch = start_step / steps_per_epoch; epoch < epochs && step < total_steps; ++epoch) {
    for_each_activation(*model, [&](const std::string&, Activation& act) { act.start_epoch(epoch); });   // PWLU's phases
    Loader loader(train_set, loader_options, epoch);
    ProgressBar bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs), loader.batches());
    const auto epoch_start = Clock::now();
    double loss_sum = 0.0;
    int64_t correct = 0, seen = 0, done = 0;
    float lr = schedule.at(step);
    // A step's loss and accuracy are read one step late (StepValues). A
    // non-finite loss stops the run before anything more is written.
    std::optional<StepValues> previous;
    const auto collect = [&](StepValues& v) {
      const float value = v.loss.values()[0];
      if (!std::isfinite(value)) {
        tape().clear();
        std::fprintf(stderr, "\n");
        fail("training stopped: the loss became non-finite (" + std::to_string(value) + ") at step " +
             std::to_string(v.step + 1) + " (epoch " + std::to_string(v.epoch + 1) + "); " + kept());
      }
      loss_sum += value * static_cast<double>(v.labels.size());
      correct += count_correct(v.logits.values(), v.classes, v.labels);
      seen += static_cast<int64_t>(v.labels.size());
      const double seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
      bar.update(v.done, loss_sum / seen, static_cast<double>(correct) / seen, seen / std::max(seconds, 1e-9));
    };
    Batch b;
    while (step < total_steps && loader.next(b)) {
      if (done++ < step - epoch * steps_per_epoch) continue;  // resuming inside an epoch
      lr = schedule.at(step);
      model->reseed(mix_seed(c.seed, static_cast<uint64_t>(step)));   // dropout masks
      Var logits = (*model)(Var(b.images.to(device)));
      Var loss = ops::cross_entropy(logits, b.labels, c.label_smoothing);
      sgd.zero_grad();
      backward(loss);
      sgd.step(lr);
      StepValues queued{PendingValues(loss.value()), PendingValues(logits.value()), logits.size(1), std::move(b.labels),
                        step, epoch, done};
      ++step;
      if (previous) collect(*previous);
      previous = std::move(queued);
    }
    if (previous) collect(*previous);
    previous.reset();
    const double train_seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    if (!loader.skipped().empty())
      std::fprintf(stderr, "\nepoch %lld training: %s\n", static_cast<long long>(epoch + 1),
                   describe_skipped(loader.skipped()).c_str());
    check(seen > 0, "training stopped: epoch " + std::to_string(epoch + 1) +
                        " did no training step (no training image could be decoded; see above); " + kept());
    const EvalResult test = evaluate(*model, test_set, 256, -1, test_set.on_disk ? loader_threads : 1);
    const double seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    char tail[128];
    std::snprintf(tail, sizeof tail, "test loss %.4f  test acc %.2f%%", test.loss, 100.0 * test.accuracy);
    bar.finish(tail);
    if (!test.skipped.empty())
      std::fprintf(stderr, "epoch %lld test: %s\n", static_cast<long long>(epoch + 1),
                   describe_skipped(test.skipped).c_str());
    check(test.samples > 0, "training stopped: epoch " + std::to_string(epoch + 1) +
                                " evaluated no test image (none could be decoded; see above); " + kept());
    // The last update can blow the weights up without a training loss to show
    // it (that loss was computed before the update): check them, and the test
    // loss, before anything is saved.
    const std::string blown = first_non_finite(*model);
    if (!blown.empty() || !std::isfinite(test.loss))
      fail("training stopped: the network diverged at step " + std::to_string(step) + " (epoch " +
           std::to_string(epoch + 1) + "): " +
           (!blown.empty() ? blown + " holds a non-finite value" : "the test loss is " + std::to_string(test.loss)) +
           "; " + kept());

    std::optional<TensorFile> best;
    if (test.accuracy > best_accuracy) {
      best_accuracy = test.accuracy;
      best = model_state(*model, metadata);
    }
    last = {{"epoch", epoch + 1},
            {"lr", decimal(lr)},
            {"train_loss", loss_sum / seen},
            {"train_acc", static_cast<double>(correct) / seen},
            {"test_loss", test.loss},
            {"test_acc", test.accuracy},
            {"seconds", seconds},
            {"images_per_s", seen / std::max(train_seconds, 1e-9)},
            {"step", step}};
    if (train_set.on_disk)  // images left out of this epoch's batches (listing-time skips are in the log)
      last["skipped_images"] = loader.skipped().size() + test.skipped.size();
    metric_lines.push_back(last.dump());
    TensorFile next_state;
    next_state.metadata = {{"step", std::to_string(step)}, {"best_accuracy", json(best_accuracy).dump()},
                           {"seed", std::to_string(c.seed)}};
    next_state.add_i64("step", step);
    sgd.save_state(next_state);
    save_schedules(*model, next_state);
    run.commit(model_state(*model, metadata), std::move(best), std::move(next_state), metric_lines,
               config.dump(2) + "\n");
    committed_step = step;
  }
  std::fprintf(stderr, "final test accuracy %.2f%% (best %.2f%%); run saved in %s\n",
               100.0 * last.value("test_acc", 0.0), 100.0 * best_accuracy, out.c_str());
  if (c.json) std::cout << last.dump() << std::endl;
  return 0;
}

// eval's model and activations: what an actlab checkpoint recorded, where no
// flag names them; a flag that contradicts the record is an error (a ReLU
// network evaluated as SiLU gives a wrong accuracy, not an error, otherwise).
// Files without the record (PyTorch's) take the flags and defaults.
ModelArgs model_of_checkpoint(const EvalConfig& c, const TensorFile& file) {
  ModelArgs a = c.model;
  const auto recorded = [&](const char* key) -> const std::string* {
    const auto it = file.metadata.find(key);
    return it == file.metadata.end() ? nullptr : &it->second;
  };
  const auto conflict = [&](const std::string& flag, const std::string& given, const std::string& stored) {
    fail(flag + " " + given + " differs from what " + c.checkpoint + " was trained with (" + stored + "); leave " +
         flag + " out to use the recorded one");
  };
  if (const std::string* model = recorded("model")) {
    if (c.model_given && c.model.model != *model) conflict("--model", c.model.model, *model);
    a.model = *model;
  }
  if (const std::string* act = recorded("act")) {
    if (c.act_given && c.model.act != *act) conflict("--act", c.model.act, *act);
    a.act = *act;
  }
  if (const std::string* act_at = recorded("act_at")) {
    std::vector<std::string> stored;
    try {
      stored = json::parse(*act_at).get<std::vector<std::string>>();
    } catch (const json::exception&) {
      fail("--checkpoint: " + c.checkpoint + " has malformed act_at metadata ('" + *act_at + "')");
    }
    if (c.act_at_given && c.model.act_at != stored)
      conflict("--act-at", json(c.model.act_at).dump(), json(stored).dump());
    a.act_at = stored;
  }
  return a;
}

int run_eval(const EvalConfig& c) {
  use_threads(c.threads);
  check(c.batch >= 1, "--batch must be at least 1");
  check(c.split == "test" || c.split == "train", "--split must be test or train (got '" + c.split + "')");
  const Device device = use_device(c.device, c.deterministic);
  set_conv_algorithm(parse_conv_algorithm(c.conv_algorithm));
  const TensorFile checkpoint = read_safetensors(c.checkpoint);
  const ModelArgs model_args = model_of_checkpoint(c, checkpoint);
  DataSource source = data_source(c.data, c.image_size);
  if (source.kind == "imagefolder" && c.image_size == 0) {  // the size the checkpoint was trained at
    auto it = checkpoint.metadata.find("input");
    long long C = 0, H = 0, W = 0;
    if (it != checkpoint.metadata.end() && std::sscanf(it->second.c_str(), "%lld,%lld,%lld", &C, &H, &W) == 3 &&
        H == W && H > 0)
      source.image_size = H;
  }
  const Dataset data = load_dataset(source, c.split == "train" ? Split::train : Split::test);
  print_notes(data);
  if (auto it = checkpoint.metadata.find("class_names"); it != checkpoint.metadata.end() && data.on_disk) {
    std::vector<std::string> trained;
    try {
      trained = json::parse(it->second).get<std::vector<std::string>>();
    } catch (const json::exception&) {
      fail("--checkpoint: " + c.checkpoint + " has malformed class_names metadata");
    }
    for (size_t k = 0; k < std::max(trained.size(), data.class_names.size()); ++k) {
      const std::string here = k < data.class_names.size() ? "'" + data.class_names[k] + "'" : "missing";
      const std::string there = k < trained.size() ? "'" + trained[k] + "'" : "missing";
      check(here == there, "--data: the classes of " + source.path + " differ from those " + c.checkpoint +
                               " was trained on (class " + std::to_string(k) + " is " + here + " here, " + there +
                               " there)");
    }
  }
  if (device == Device::cpu) {
    const int64_t count = c.limit > 0 ? std::min(c.limit, data.count) : data.count;
    check_batch_fits(model_args, data, c.batch, count, Pass::evaluation);
  }
  auto model = build_model(model_args, data.channels, data.classes, 0);
  load_model(*model, checkpoint);
  model->to(device);
  const EvalResult r = evaluate(*model, data, c.batch, c.limit, data.on_disk ? loader_threads_of(c.loader_threads) : 1);
  if (!r.skipped.empty()) std::fprintf(stderr, "eval: %s\n", describe_skipped(r.skipped).c_str());
  check(r.samples > 0, "eval: the " + c.split + " split of " + c.data + " gave no sample to evaluate" +
                           (r.skipped.empty() ? " (it is empty)" : " (none could be decoded)"));
  check(std::isfinite(r.loss), "eval: the loss on the " + c.split + " split is " + std::to_string(r.loss) + ": " +
                                   c.checkpoint + " holds a network that diverged");
  if (c.json) {
    std::cout << json{{"loss", r.loss}, {"accuracy", r.accuracy}, {"samples", r.samples}}.dump() << std::endl;
  } else {
    std::printf("%s split of %s: %lld samples, loss %.6f, accuracy %.2f%%\n", c.split.c_str(), c.data.c_str(),
                static_cast<long long>(r.samples), r.loss, 100.0 * r.accuracy);
  }
  return 0;
}

int run_summary(const SummaryConfig& c) {
  use_threads(c.threads);
  const ModelDefaults defaults = model_defaults(c.model.model);
  int64_t C = 3, H = defaults.image_size, W = defaults.image_size;
  if (!c.input.empty()) {
    long long a, b, d;
    char tail;
    if (std::sscanf(c.input.c_str(), "%lld,%lld,%lld%c", &a, &b, &d, &tail) != 3 || a < 1 || b < 1 || d < 1)
      fail("--input: expected C,H,W with positive integers, got '" + c.input + "'");
    C = a, H = b, W = d;
  }
  ModelArgs args = c.model;
  if (args.in_channels > 0) C = args.in_channels;
  auto model = build_model(args, C, defaults.classes, 0);
  std::map<const Module*, std::string> names;
  model->for_each_module([&](const std::string& name, Module& m) { names[&m] = name; });
  ModuleTrace trace;
  {
    NoGradScope no_grad;
    model->eval();
    ModuleTraceScope scope(trace);
    (*model)(Var(Tensor::zeros({1, C, H, W})));
  }
  json layers = json::array();
  int64_t total_macs = 0;
  if (!c.json) std::printf("%-30s %-42s %-18s %12s %14s\n", "name", "layer", "output", "parameters", "mult-adds");
  for (const auto& e : trace.entries) {
    Module& m = const_cast<Module&>(*e.module);
    // Leaves, and every activation position (its own parameters; a generator's
    // layers have rows of their own, so the rows add up to the total).
    if (m.has_children() && !dynamic_cast<Activation*>(&m)) continue;
    int64_t params = 0;
    for (auto& [n, p] : m.own_parameters()) params += p.var.value().numel();
    const int64_t macs = m.macs(e.in, e.out);
    total_macs += macs;
    Shape out = e.out;
    out.erase(out.begin());
    layers.push_back({{"name", names[e.module]}, {"layer", m.describe()}, {"output", out}, {"parameters", params},
                      {"macs", macs}});
    if (!c.json)
      std::printf("%-30s %-42s %-18s %12lld %14lld\n", names[e.module].c_str(), m.describe().c_str(),
                  to_string(out).c_str(), static_cast<long long>(params), static_cast<long long>(macs));
  }
  const int64_t total = model->parameter_count();
  if (c.json) {
    std::cout << json{{"model", args.model}, {"parameters", total}, {"macs", total_macs}, {"layers", layers}}.dump()
              << std::endl;
  } else {
    std::printf("total: %lld parameters, %lld multiply-adds (%.1fM) for input %lld,%lld,%lld; %zu activation positions\n",
                static_cast<long long>(total), static_cast<long long>(total_macs), total_macs / 1e6,
                static_cast<long long>(C), static_cast<long long>(H), static_cast<long long>(W),
                model->positions().size());
  }
  return 0;
}

}  // namespace actlab
