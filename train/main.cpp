// actlab: the command line (SPEC 6). Parses flags with CLI11 and hands a
// config to train, eval or summary. Every failure ends as one line on stderr
// and a non-zero exit.
#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <new>

#include "core/error.h"
#include "core/kernels.h"
#include "train/act_tools.h"
#include "train/trainer.h"

using namespace actlab;

namespace {

// Number checks whose errors say what was expected ("--epochs: expected a
// whole number from 1, got '-1'"); CLI11's own Range and PositiveNumber word
// them "Value -1 not in range 0.000000 to 1797693134862315708145...".
CLI::Validator whole_number(long long lowest, long long highest = std::numeric_limits<long long>::max()) {
  const bool bounded = highest != std::numeric_limits<long long>::max();
  std::string expected = "a whole number from " + std::to_string(lowest);
  if (bounded) expected += " to " + std::to_string(highest);
  const std::string shown = bounded ? "in [" + std::to_string(lowest) + ", " + std::to_string(highest) + "]"
                            : lowest == 1 ? "POSITIVE"
                            : lowest == 0 ? "NONNEGATIVE"
                                          : ">=" + std::to_string(lowest);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        long long value = 0;
        const char* end = text.data() + text.size();
        const auto [stop, error] = std::from_chars(text.data(), end, value);
        if (error != std::errc() || stop != end || value < lowest || value > highest)
          return "expected " + expected + ", got '" + text + "'";
        return {};
      },
      shown);
}

// A finite number in [lowest, below): any with lowest −∞, [lowest, ∞) without below.
CLI::Validator number_from(double lowest, double below = INFINITY) {
  const auto show = [](double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return std::string(text);
  };
  const std::string expected = std::isinf(lowest) ? ""
                               : std::isinf(below) ? " " + show(lowest) + " or more"
                                                   : " from " + show(lowest) + " up to (not including) " + show(below);
  const std::string shown = std::isinf(lowest)  ? ""
                            : !std::isinf(below) ? "in [" + show(lowest) + ", " + show(below) + ")"
                            : lowest == 0        ? "NONNEGATIVE"
                                                 : ">=" + show(lowest);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        char* stop = nullptr;
        const double value = text.empty() ? NAN : std::strtod(text.c_str(), &stop);
        if (text.empty() || *stop != '\0' || !std::isfinite(value) || value < lowest || value >= below)
          return "expected a number" + expected + ", got '" + text + "'";
        return {};
      },
      shown);
}

void add_model_flags(CLI::App& app, ModelArgs& m) {
  app.add_option("--model", m.model, "model, e.g. resnet20, resnet56")->capture_default_str();
  app.add_option("--act", m.act, "activation at every position (default: the model's own)");
  app.add_option("--act-at", m.act_at, "GLOB=SPEC or preset:3x3=SPEC; repeatable, later wins")->take_all();
  app.add_option("--in-channels", m.in_channels, "input channels (default: from the data set)")->check(whole_number(1));
  app.add_option("--classes", m.classes, "classes (default: from the data set)")->check(whole_number(1));
}

// --resume RUN_DIR: the run's recorded settings, except the flags given now.
void resume_settings(const CLI::App& t, TrainConfig& train) {
  if (t.count("--out")) fail("--resume continues the run in its own directory; --out cannot be given with it");
  for (const char* flag : {"--init-from", "--init-partial", "--init-skip-head"})
    if (t.count(flag)) fail(std::string(flag) + " cannot be given with --resume: a resumed run continues from its own weights");
  const TrainConfig recorded = read_train_config(train.resume);
  auto keep = [&](const char* flag, auto member) {
    if (!t.count(flag)) train.*member = recorded.*member;
  };
  keep("--data", &TrainConfig::data);
  keep("--image-size", &TrainConfig::image_size);
  keep("--epochs", &TrainConfig::epochs);
  keep("--max-steps", &TrainConfig::max_steps);
  keep("--batch", &TrainConfig::batch);
  keep("--lr", &TrainConfig::lr);
  keep("--momentum", &TrainConfig::momentum);
  keep("--nesterov", &TrainConfig::nesterov);
  keep("--wd", &TrainConfig::wd);
  keep("--wd-on", &TrainConfig::wd_on);
  keep("--schedule", &TrainConfig::schedule);
  keep("--warmup", &TrainConfig::warmup);
  keep("--label-smoothing", &TrainConfig::label_smoothing);
  keep("--no-augment", &TrainConfig::augment);
  keep("--no-shuffle", &TrainConfig::shuffle);
  keep("--seed", &TrainConfig::seed);
  keep("--conv-algorithm", &TrainConfig::conv_algorithm);
  keep("--init-from", &TrainConfig::init_from);
  keep("--init-partial", &TrainConfig::init_partial);
  keep("--init-skip-head", &TrainConfig::init_skip_head);
  if (!t.count("--model")) train.model.model = recorded.model.model;
  if (!t.count("--act")) train.model.act = recorded.model.act;
  if (!t.count("--act-at")) train.model.act_at = recorded.model.act_at;
  if (!t.count("--in-channels")) train.model.in_channels = recorded.model.in_channels;
  if (!t.count("--classes")) train.model.classes = recorded.model.classes;
  // --epochs given without --max-steps ends a run that --max-steps had capped.
  if (t.count("--epochs") && !t.count("--max-steps")) train.max_steps = -1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"actlab: train and study activation functions in CNNs"};
  app.require_subcommand(1);
  int threads = 0;
  std::string device = "cpu";
  bool deterministic = false;

  TrainConfig train;
  CLI::App* t = app.add_subcommand("train", "train a model");
  add_model_flags(*t, train.model);
  t->add_option("--data", train.data, "KIND[:DIR]: fashion-mnist, mnist, cifar10, cifar100, imagefolder")->capture_default_str();
  t->add_option("--epochs", train.epochs, "epochs")->capture_default_str()->check(whole_number(1));
  t->add_option("--max-steps", train.max_steps, "stop after N optimizer steps")->check(whole_number(1));
  t->add_option("--batch", train.batch, "batch size")->capture_default_str()->check(whole_number(1));
  t->add_option("--lr", train.lr, "learning rate")->capture_default_str()->check(number_from(0, 1e4));
  t->add_option("--momentum", train.momentum, "SGD momentum")->capture_default_str()->check(number_from(0, 1));
  t->add_flag("--nesterov", train.nesterov, "Nesterov momentum");
  t->add_option("--wd", train.wd, "weight decay")->capture_default_str()->check(number_from(0, 1));
  t->add_option("--wd-on", train.wd_on, "weights (role weight only) or all")->capture_default_str()
      ->check(CLI::IsMember({"weights", "all"}));
  t->add_option("--schedule", train.schedule, "cosine | step:E1,E2,... | none")->capture_default_str();
  t->add_option("--warmup", train.warmup, "linear warm-up epochs (at most the run's length)")->capture_default_str()
      ->check(number_from(0, 1e6));
  t->add_option("--label-smoothing", train.label_smoothing, "label smoothing")->capture_default_str()
      ->check(number_from(0, 1));
  bool no_augment = false, no_shuffle = false;
  t->add_flag("--no-augment", no_augment, "no crop or flip");
  t->add_flag("--no-shuffle", no_shuffle, "batches in file order");
  t->add_option("--seed", train.seed, "random seed")->capture_default_str()->check(whole_number(0));
  t->add_option("--init-from", train.init_from, "start from these weights (safetensors)");
  t->add_flag("--init-partial", train.init_partial,
              "with --init-from: tensors the file lacks (e.g. swapped-in activations' parameters) keep their initial values");
  t->add_flag("--init-skip-head", train.init_skip_head,
              "with --init-from: do not load the classifier (fine-tuning to another class count)");
  t->add_option("--resume", train.resume, "continue the run in this directory with the settings in its config.json; flags given now override them");
  t->add_option("--out", train.out, "run directory (default runs/<model>-<act>-<time>)");
  t->add_flag("--json", train.json, "print the final metrics as JSON");
  t->add_option("--image-size", train.image_size, "side of the square training images (imagefolder only; default 224)")
      ->check(whole_number(1, 4096));

  EvalConfig eval;
  CLI::App* e = app.add_subcommand("eval", "evaluate a checkpoint");
  add_model_flags(*e, eval.model);
  e->add_option("--checkpoint", eval.checkpoint, "weights (safetensors)")->required();
  e->add_option("--data", eval.data, "KIND[:DIR]")->capture_default_str();
  e->add_option("--image-size", eval.image_size,
                "side of the square images (imagefolder only; default: the checkpoint's, else 224)")
      ->check(whole_number(1, 4096));
  e->add_option("--split", eval.split, "test or train")->capture_default_str()->check(CLI::IsMember({"test", "train"}));
  e->add_option("--batch", eval.batch, "batch size")->capture_default_str()->check(whole_number(1));
  e->add_option("--limit", eval.limit, "only the first N samples")->check(whole_number(1));
  e->add_flag("--json", eval.json, "print {loss, accuracy, samples} as JSON");

  SummaryConfig summary;
  CLI::App* s = app.add_subcommand("summary", "layers, parameters and multiply-adds of a model");
  add_model_flags(*s, summary.model);
  s->add_option("--input", summary.input, "C,H,W (default 3,32,32; 3,224,224 for resnet18, resnet34, mobilenetv2)");
  s->add_flag("--json", summary.json, "print as JSON");

  CLI::App* act = app.add_subcommand("act", "look inside activations: plot, explain");
  act->require_subcommand(1);
  ActPlotConfig plot;
  std::string range = "-5,5";
  CLI::App* ap = act->add_subcommand("plot", "draw f(x) and f'(x) of activations to an SVG picture and a CSV");
  ap->add_option("specs", plot.specs, "activation specs, e.g. relu swish 'acon-c(init=swish)'")->required();
  ap->add_option("--range", range, "x range LO,HI")->capture_default_str();
  ap->add_option("--points", plot.points, "grid points")->capture_default_str()->check(whole_number(2, 1000000));
  ap->add_option("--out", plot.out, "picture (.svg)")->capture_default_str();
  ap->add_option("--csv", plot.csv, "curves as CSV (default: --out with .csv)");
  ap->add_option("--checkpoint", plot.checkpoint, "take the parameters from this checkpoint ...");
  ap->add_option("--at", plot.at, "... at this activation position, e.g. layer1.0.act1");
  ap->add_option("--channel", plot.channel, "channel of a per-channel activation")->capture_default_str();
  ActExplainConfig explain;
  CLI::App* ax = act->add_subcommand("explain", "run a tiny input through an activation and print its tape");
  ax->add_option("spec", explain.spec, "activation spec")->required();
  ax->add_option("--input", explain.input, "input values")->delimiter(',')->capture_default_str()
      ->check(number_from(-INFINITY));
  ax->add_option("--channels", explain.channels, "channels (the input is split evenly)")->capture_default_str()
      ->check(whole_number(1));
  for (CLI::App* sub : {ap, ax})
    sub->add_option("--threads", threads, "CPU threads (default: 1)")->check(whole_number(1, 1024));

  for (CLI::App* sub : {t, e, s}) {
    sub->add_option("--threads", threads, "CPU threads (default: all cores)")->check(whole_number(1, 1024));
    sub->add_option("--device", device, "cpu or cuda")->capture_default_str();
  }
  int loader_threads = 0;
  std::string conv_algorithm = "auto";
  for (CLI::App* sub : {t, e}) {
    sub->add_option("--conv-algorithm", conv_algorithm,
                    "CPU 3x3 convolutions: auto (oneDNN's choice: Winograd where it pays, ~1e-6 relative error) or "
                    "direct (as PyTorch, ~2e-7; slower)")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "direct"}));
    sub->add_flag("--deterministic", deterministic, "GPU: only algorithms whose results never vary (CPU always is)");
    sub->add_option("--loader-threads", loader_threads,
                    "threads decoding imagefolder images (default: one per core; in-memory sets use one)")
        ->check(whole_number(1, 256));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    std::fprintf(stderr, "actlab: error: %s\n", error.what());
    return 2;
  }

  try {
    if (t->parsed()) {
      train.augment = !no_augment;
      train.shuffle = !no_shuffle;
      train.threads = threads;
      train.device = device;
      train.deterministic = deterministic;
      train.conv_algorithm = conv_algorithm;
      if (t->count("--max-steps") && !t->count("--epochs")) train.epochs = 0;
      train.loader_threads = loader_threads;
      if (!train.resume.empty()) resume_settings(*t, train);
      return run_train(train);
    }
    if (ap->parsed()) {
      set_num_threads(threads > 0 ? threads : 1);
      check(std::sscanf(range.c_str(), "%f,%f", &plot.lo, &plot.hi) == 2, "--range: expected LO,HI (got '" + range + "')");
      check(plot.checkpoint.empty() == plot.at.empty(), "--checkpoint and --at go together");
      return run_act_plot(plot);
    }
    if (ax->parsed()) {
      set_num_threads(threads > 0 ? threads : 1);
      return run_act_explain(explain);
    }
    if (e->parsed()) {
      eval.threads = threads;
      eval.device = device;
      eval.deterministic = deterministic;
      eval.conv_algorithm = conv_algorithm;
      eval.loader_threads = loader_threads;
      eval.model_given = e->count("--model") > 0;
      eval.act_given = e->count("--act") > 0;
      eval.act_at_given = e->count("--act-at") > 0;
      return run_eval(eval);
    }
    summary.threads = threads;
    return run_summary(summary);
  } catch (const Error& error) {
    std::fprintf(stderr, "actlab: error: %s\n", error.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "actlab: error: out of memory; use a smaller --batch, or free memory for this run\n");
    return 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "actlab: error: %s\n", error.what());
    return 1;
  }
}
