// The command line as a user meets it: summary figures, checkpoints written
// and read back, and bad input, which must end in one clear line and a
// non-zero exit without touching what was already written.
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "helpers.h"
#include "models/model.h"
#include "train/checkpoint.h"

using namespace actlab;
using namespace actlab::testing;

namespace {

const std::string kTiny = "fashion-mnist:" + fixture("tiny-fmnist");

}  // namespace

TEST_CASE("summary prints 269,722 parameters and about 40.6M multiply-adds for resnet20") {
  Run r = run_actlab("summary --model resnet20 --json");
  REQUIRE(r.status == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["parameters"] == 269722);
  CHECK(std::fabs(j["macs"].get<double>() - 40.6e6) < 0.01 * 40.6e6);
  CHECK(run_actlab("summary --model resnet20").out.find("269722 parameters") != std::string::npos);
}

TEST_CASE("train writes checkpoints, metrics and config, resume continues, and eval reads the result") {
  const std::string dir = temp_dir("train");
  Run r = run_actlab("train --model resnet20 --data " + kTiny + " --epochs 1 --batch 16 --threads 2 --json --out " + dir + "/run");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  for (const std::string f : {"model.safetensors", "best.safetensors", "metrics.jsonl", "config.json", "state.safetensors"})
    CHECK_MESSAGE(std::filesystem::exists(dir + "/run/" + f), f << " missing");
  auto metrics = nlohmann::json::parse(r.out);
  for (const std::string key : {"epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "images_per_s"})
    CHECK_MESSAGE(metrics.contains(key), "metrics lack " << key);
  const TensorFile saved = read_safetensors(dir + "/run/model.safetensors");
  CHECK(saved.metadata.at("format") == "actlab");
  CHECK(saved.metadata.at("model") == "resnet20");
  CHECK(saved.metadata.at("act") == "relu");

  // The same run again into the same directory is refused; the checkpoint stays.
  const auto stamp = std::filesystem::last_write_time(dir + "/run/model.safetensors");
  Run again = run_actlab("train --model resnet20 --data " + kTiny + " --epochs 1 --batch 16 --out " + dir + "/run");
  check_one_line_error(again, "already holds a run");
  CHECK(std::filesystem::last_write_time(dir + "/run/model.safetensors") == stamp);

  // The run's own settings (data, batch, ...) come from its config.json; --epochs extends it.
  Run resumed = run_actlab("train --epochs 2 --threads 2 --json --resume " + dir + "/run");
  REQUIRE_MESSAGE(resumed.status == 0, resumed.err);
  CHECK(nlohmann::json::parse(resumed.out)["epoch"] == 2);
  CHECK(read_safetensors(dir + "/run/state.safetensors").i64("step") == 8);

  check_one_line_error(run_actlab("train --resume " + dir + "/run --out " + dir + "/elsewhere"), "--out cannot be given");
  check_one_line_error(run_actlab("train --resume " + dir), "holds no config.json");

  Run e = run_actlab("eval --model resnet20 --data " + kTiny + " --checkpoint " + dir + "/run/model.safetensors --json --limit 10");
  REQUIRE_MESSAGE(e.status == 0, e.err);
  CHECK(nlohmann::json::parse(e.out)["samples"] == 10);
  std::filesystem::remove_all(dir);
}

TEST_CASE("an epoch's last progress line shows its last step, also where --max-steps stops inside the epoch") {
  const std::string dir = temp_dir("progress");
  // 16 steps an epoch: steps 2 and 3 fall in the same tenth, so a log drew no line at step 3.
  Run r = run_actlab("train --model resnet20 --data " + kTiny + " --epochs 1 --batch 4 --max-steps 3 --threads 2 --out " +
                     dir + "/run");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  std::ifstream metrics(dir + "/run/metrics.jsonl");
  std::string line;
  REQUIRE(std::getline(metrics, line));
  char loss[32];
  std::snprintf(loss, sizeof loss, "%.4f", nlohmann::json::parse(line)["train_loss"].get<double>());
  const std::string last = r.err.substr(r.err.rfind("epoch 1/1"));
  CHECK_MESSAGE(last.find("] 3/16  loss " + std::string(loss)) != std::string::npos, last);
  CHECK(last.find("test acc") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("bad input ends with one clear line and a non-zero exit") {
  const std::string dir = temp_dir("bad");
  check_one_line_error(run_actlab("train --model resnet99 --data " + kTiny), "unknown model 'resnet99'");
  check_one_line_error(run_actlab("train --act swoosh --data " + kTiny), "unknown activation 'swoosh'");
  check_one_line_error(run_actlab("train --act 'relu(slope=2)' --data " + kTiny), "has no option 'slope'");
  check_one_line_error(run_actlab("train --act-at 'layer9.*=relu' --data " + kTiny + " --out " + dir + "/x"),
                       "matches no activation position");
  check_one_line_error(run_actlab("train --data fashion-mnist:" + dir + "/nowhere"), "directory not found");
  // Numbers: the flag, what it takes and what it got (not CLI11's "Value 0 not in range 0.000000 to 1797…").
  check_one_line_error(run_actlab("train --data " + kTiny + " --epochs abc"),
                       "--epochs: expected a whole number from 1, got 'abc'");
  check_one_line_error(run_actlab("train --data " + kTiny + " --epochs 1.5"), "--epochs: expected a whole number");
  check_one_line_error(run_actlab("train --data " + kTiny + " --batch 0"), "--batch: expected a whole number from 1, got '0'");
  check_one_line_error(run_actlab("train --data " + kTiny + " --lr -0.1"), "--lr: expected a number from 0 up to (not including) 10000, got '-0.1'");
  check_one_line_error(run_actlab("train --data " + kTiny + " --wd nan"), "--wd: expected a number from 0 up to (not including) 1, got 'nan'");
  check_one_line_error(run_actlab("train --data " + kTiny + " --momentum 1"),
                       "--momentum: expected a number from 0 up to (not including) 1, got '1'");
  check_one_line_error(run_actlab("train --data " + kTiny + " --seed -3"), "--seed: expected a whole number from 0, got '-3'");
  check_one_line_error(run_actlab("eval --data " + kTiny + " --checkpoint x --threads 0"),
                       "--threads: expected a whole number from 1 to 1024, got '0'");
  check_one_line_error(run_actlab("act plot relu --points 1"), "--points: expected a whole number from 2 to 1000000, got '1'");
  check_one_line_error(run_actlab("summary --model resnet20 --classes 0"), "--classes: expected a whole number from 1, got '0'");
  check_one_line_error(run_actlab("act explain relu --input 1,b"), "--input: expected a number, got 'b'");
  check_one_line_error(run_actlab("train --data " + kTiny + " --schedule step:ten"), "--schedule");
  check_one_line_error(run_actlab("train --frobnicate"), "frobnicate");

  // A batch beyond the memory at hand stops before the run starts (without the check the
  // kernel kills the process in its first step). ACTLAB_MEMORY_LIMIT stands in for a small machine.
  ::setenv("ACTLAB_MEMORY_LIMIT", "50M", 1);
  check_one_line_error(run_actlab("train --data " + kTiny + " --batch 64 --out " + dir + "/big"),
                       "--batch 64: training would hold about");
  CHECK_FALSE(std::filesystem::exists(dir + "/big"));
  ::setenv("ACTLAB_MEMORY_LIMIT", "50X", 1);
  check_one_line_error(run_actlab("train --data " + kTiny + " --out " + dir + "/big"), "ACTLAB_MEMORY_LIMIT: expected a size");
  ::unsetenv("ACTLAB_MEMORY_LIMIT");

  // A truncated IDX file.
  std::filesystem::create_directories(dir + "/trunc");
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                        "t10k-labels-idx1-ubyte.gz"})
    std::filesystem::copy_file(fixture(std::string("tiny-fmnist/") + f), dir + "/trunc/" + f);
  std::filesystem::resize_file(dir + "/trunc/train-images-idx3-ubyte.gz", 2000);
  check_one_line_error(run_actlab("train --data fashion-mnist:" + dir + "/trunc --out " + dir + "/t"), "train-images-idx3-ubyte.gz");

  // A checkpoint of another model, and a file that is no checkpoint at all.
  ModelConfig other;
  other.spec = "resnet32";
  other.in_channels = 1;
  save_model(*make_model(other), dir + "/resnet32.safetensors", {{"model", "resnet32"}});
  check_one_line_error(run_actlab("eval --model resnet20 --data " + kTiny + " --checkpoint " + dir + "/resnet32.safetensors"),
                       "--model resnet20 differs from what");
  save_model(*make_model(other), dir + "/unlabelled.safetensors", {});   // as PyTorch's save_file writes it
  check_one_line_error(run_actlab("eval --model resnet20 --data " + kTiny + " --checkpoint " + dir + "/unlabelled.safetensors"),
                       "unexpected layer1.3");
  std::ofstream(dir + "/junk.safetensors") << "not a checkpoint";
  check_one_line_error(run_actlab("eval --data " + kTiny + " --checkpoint " + dir + "/junk.safetensors"), "not a valid safetensors");
  check_one_line_error(run_actlab("train --data " + kTiny + " --init-from " + dir + "/resnet32.safetensors --out " + dir + "/y"),
                       "does not fit");
  CHECK_FALSE(std::filesystem::exists(dir + "/y/model.safetensors"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("a diverging run stops at once, names the step and keeps the last good checkpoint") {
  const std::string dir = temp_dir("diverge");
  Run ok = run_actlab("train --data " + kTiny + " --epochs 1 --batch 16 --threads 2 --out " + dir + "/run");
  REQUIRE_MESSAGE(ok.status == 0, ok.err);
  const std::string good = slurp(dir + "/run/model.safetensors");
  Run r = run_actlab("train --data " + kTiny + " --epochs 3 --batch 16 --lr 1000 --schedule none --threads 2 --resume " + dir + "/run");
  check_one_line_error(r, "training stopped");
  CHECK(r.err.find("at step") != std::string::npos);
  CHECK(slurp(dir + "/run/model.safetensors") == good);
  std::filesystem::remove_all(dir);
}
