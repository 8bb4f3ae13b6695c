// What a run directory promises (docs/RUNS.md), tried as a careless user and
// a crashing machine would: a run killed at every durable step of its writes
// resumes to the same weights and metrics, bit for bit, as a run never
// interrupted; a run that diverged leaves the last good files untouched and
// exits non-zero; a second run into a directory in use is refused; runs that
// did no work are errors.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "cli.h"
#include "helpers.h"
#include "train/run_dir.h"
#include "train/safetensors.h"

using namespace actlab;
using namespace actlab::testing;
namespace fs = std::filesystem;

namespace {

const std::string kTiny = "fashion-mnist:" + fixture("tiny-fmnist");

// The files a user reads, as bytes (metrics without their timings, which no
// two runs share).
struct Outcome {
  std::map<std::string, std::string> tensors;   // "model.conv1.weight" -> bytes
  std::vector<std::string> metrics;
};

Outcome outcome_of(const std::string& run) {
  Outcome o;
  for (const char* file : {"model", "best"}) {
    const TensorFile f = read_safetensors(run + "/" + file + ".safetensors");
    for (const auto& [name, t] : f.tensors)
      o.tensors[std::string(file) + "." + name] = std::string(t.bytes.begin(), t.bytes.end());
  }
  std::ifstream in(run + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    j.erase("seconds");
    j.erase("images_per_s");
    o.metrics.push_back(j.dump());
  }
  return o;
}

void check_same(const std::string& what, const Outcome& got, const Outcome& expected) {
  CHECK_MESSAGE(got.metrics == expected.metrics, what << ": metrics.jsonl differs (" << got.metrics.size() << " lines, "
                                                      << expected.metrics.size() << " expected)");
  REQUIRE_MESSAGE(got.tensors.size() == expected.tensors.size(), what << ": the files hold other tensors");
  int differing = 0;
  std::string first;
  for (const auto& [name, bytes] : expected.tensors)
    if (got.tensors.at(name) != bytes && differing++ == 0) first = name;
  CHECK_MESSAGE(differing == 0, what << ": " << differing << " tensors differ from the uninterrupted run's, first " << first);
}

// Leftovers a finished run must not have.
void check_clean(const std::string& what, const std::string& run) {
  for (const auto& entry : fs::directory_iterator(run)) {
    const std::string name = entry.path().filename().string();
    CHECK_MESSAGE((name.find(".tmp.") == std::string::npos && name.find(".next") == std::string::npos),
                  what << ": " << name << " left in the run directory");
  }
}

// Kills a run at its k-th durable write step for k = 1, 2, ... and finishes
// it each time as a user would (--resume, or the same command again where it
// died before writing its config), until a run gets through unkilled; each
// result must equal the uninterrupted run's.
void check_kills(const std::string& act, int epochs) {
  const std::string dir = temp_dir("kill");
  const std::string args = "train --act '" + act + "' --data " + kTiny + " --batch 16 --threads 1 --epochs " +
                           std::to_string(epochs) + " --out ";
  const Run whole = run_actlab(args + dir + "/whole");
  REQUIRE_MESSAGE(whole.status == 0, whole.err);
  const Outcome expected = outcome_of(dir + "/whole");
  REQUIRE(static_cast<int>(expected.metrics.size()) == epochs);
  int kills = 0;
  for (int k = 1; k < 200; ++k) {
    const std::string run = dir + "/k" + std::to_string(k);
    const Run killed = run_actlab(args + run, "ACTLAB_KILL_AT_WRITE=" + std::to_string(k));
    if (killed.status == 0) break;   // past the last write: nothing left to kill
    REQUIRE_MESSAGE(killed.status == 128 + 9, act << " kill " << k << ": status " << killed.status << "; " << killed.err);
    ++kills;
    const Run finished = fs::exists(run + "/config.json") ? run_actlab("train --threads 1 --resume " + run)
                                                          : run_actlab(args + run);
    // Killed after its last commit: complete, as --resume says.
    const bool complete = finished.err.find("give more --epochs") != std::string::npos;
    REQUIRE_MESSAGE((finished.status == 0 || complete), act << " after kill " << k << ": " << finished.err);
    const std::string what = act + " killed at write " + std::to_string(k);
    check_same(what, outcome_of(run), expected);
    check_clean(what, run);
    fs::remove_all(run);
  }
  MESSAGE(act << ": " << kills << " kills, each resumed to the uninterrupted run's files");
  CHECK(kills >= 7 * epochs);
  fs::remove_all(dir);
}

std::vector<std::string> files_of(const std::string& run) {
  std::vector<std::string> bytes;
  for (const char* f : {"model.safetensors", "best.safetensors", "state.safetensors", "metrics.jsonl", "config.json"})
    bytes.push_back(slurp(run + "/" + f));
  return bytes;
}

}  // namespace

TEST_CASE("a run killed at any write resumes to the uninterrupted run's weights and metrics: relu") {
  check_kills("relu", 2);
}

TEST_CASE("a run killed at any write resumes to the uninterrupted run's weights and metrics: meta-acon") {
  check_kills("meta-acon", 2);
}

TEST_CASE("a run killed at any write resumes to the uninterrupted run's weights and metrics: pwlu across its phases") {
  check_kills("pwlu(stat_epochs=1)", 3);
}

TEST_CASE("pwlu resumed in phase II keeps its learned parameters and continues exactly") {
  const std::string dir = temp_dir("pwlu-resume");
  const std::string args = "train --act 'pwlu(stat_epochs=1)' --data " + kTiny + " --batch 16 --threads 1 ";
  REQUIRE(run_actlab(args + "--epochs 3 --out " + dir + "/whole").status == 0);
  // Two of the three epochs (the schedule is the three epochs'), then the rest.
  REQUIRE(run_actlab(args + "--epochs 3 --max-steps 8 --out " + dir + "/part").status == 0);
  const Run resumed = run_actlab("train --epochs 3 --threads 1 --resume " + dir + "/part");
  REQUIRE_MESSAGE(resumed.status == 0, resumed.err);
  check_same("pwlu resumed in phase II", outcome_of(dir + "/part"), outcome_of(dir + "/whole"));
  fs::remove_all(dir);
}

TEST_CASE("a run that diverges exits non-zero and leaves the last good files as they were") {
  const std::string dir = temp_dir("diverged");
  REQUIRE(run_actlab("train --data " + kTiny + " --epochs 1 --batch 16 --threads 1 --out " + dir + "/run").status == 0);
  const auto before = files_of(dir + "/run");
  // The fifth step's update blows the weights up; its loss, computed before
  // the update, is finite: the weights and the test loss tell.
  Run r = run_actlab("train --epochs 2 --max-steps 5 --lr 1000 --schedule none --threads 1 --resume " + dir + "/run");
  check_one_line_error(r, "diverged at step 5");
  CHECK(r.err.find("the run as of step 4 is kept") != std::string::npos);
  CHECK_MESSAGE(files_of(dir + "/run") == before, "a diverged run changed the run directory");
  // The same at the first epoch: nothing is saved.
  Run fresh = run_actlab("train --data " + kTiny + " --epochs 1 --batch 16 --lr 1000 --schedule none --threads 1 --out " +
                         dir + "/fresh");
  CHECK(fresh.status != 0);
  CHECK_MESSAGE(fresh.err.find("no epoch had been saved yet") != std::string::npos, fresh.err);
  CHECK_FALSE(fs::exists(dir + "/fresh/model.safetensors"));
  CHECK_FALSE(fs::exists(dir + "/fresh/metrics.jsonl"));
  fs::remove_all(dir);
}

TEST_CASE("recovery removes a dead writer's temporary files and leaves the user's own files alone") {
  const std::string dir = temp_dir("leftovers");
  REQUIRE(run_actlab("train --data " + kTiny + " --epochs 1 --batch 16 --threads 1 --out " + dir + "/run").status == 0);
  std::ofstream(dir + "/run/model.safetensors.next.tmp.99999") << "half a write";
  std::ofstream(dir + "/run/state.safetensors.tmp.99999") << "half a write";
  std::ofstream(dir + "/run/notes.tmp.txt") << "the user's";
  const Run resumed = run_actlab("train --epochs 2 --threads 1 --resume " + dir + "/run");
  REQUIRE_MESSAGE(resumed.status == 0, resumed.err);
  CHECK_FALSE(fs::exists(dir + "/run/model.safetensors.next.tmp.99999"));
  CHECK_FALSE(fs::exists(dir + "/run/state.safetensors.tmp.99999"));
  CHECK(slurp(dir + "/run/notes.tmp.txt") == "the user's");
  fs::remove_all(dir);
}

TEST_CASE("a second run into a run directory in use is refused, and the first keeps its files") {
  const std::string dir = temp_dir("locked");
  {
    RunDir first(dir + "/run");   // this process holds the directory, as a running train would
    Run second = run_actlab("train --data " + kTiny + " --epochs 1 --batch 16 --threads 1 --out " + dir + "/run");
    check_one_line_error(second, "in use by another actlab run (process " + std::to_string(::getpid()) + ")");
    CHECK_FALSE(fs::exists(dir + "/run/model.safetensors"));
  }
  // Released when its holder ends, killed or not.
  CHECK(run_actlab("train --data " + kTiny + " --epochs 1 --batch 16 --threads 1 --out " + dir + "/run").status == 0);
  fs::remove_all(dir);
}

TEST_CASE("resuming a finished run, or one stopped before its first epoch, says what to do") {
  const std::string dir = temp_dir("resume-edges");
  REQUIRE(run_actlab("train --data " + kTiny + " --epochs 1 --batch 16 --threads 1 --out " + dir + "/run").status == 0);
  check_one_line_error(run_actlab("train --threads 1 --resume " + dir + "/run"), "give more --epochs");
  check_one_line_error(run_actlab("train --max-steps 2 --threads 1 --resume " + dir + "/run"), "has done 4 steps");
  check_one_line_error(run_actlab("train --threads 1 --init-from x --resume " + dir + "/run"),
                       "--init-from cannot be given with --resume");
  // Killed after its config was written, before its first commit: --resume starts it over.
  const Run killed = run_actlab("train --data " + kTiny + " --epochs 1 --batch 16 --threads 1 --out " + dir + "/early",
                                "ACTLAB_KILL_AT_WRITE=3");
  REQUIRE(killed.status == 128 + 9);
  const Run again = run_actlab("train --threads 1 --resume " + dir + "/early");
  CHECK_MESSAGE(again.status == 0, again.err);
  CHECK(again.err.find("starts again from the beginning") != std::string::npos);
  fs::remove_all(dir);
}
