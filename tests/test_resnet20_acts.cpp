// ResNet-20 with each parametric activation at every position against the
// same network in PyTorch (tools/make_model_act_fixtures.py, modules written
// from SPEC): the backbone of resnet20_init.safetensors plus the activations'
// own tensors, moved off their initial values. `actlab eval` must give
// PyTorch's loss (1e-4 relative) and one SGD step from the CLI must change
// every tensor as PyTorch's step does, compared as SPEC 8 says.
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>

#include "cli.h"
#include "helpers.h"
#include "train/safetensors.h"

using namespace actlab;
using namespace actlab::testing;

namespace {

const std::string kTiny = "fashion-mnist:" + fixture("tiny-fmnist");

// The backbone plus the activation tensors stored under "<act>/init.".
void write_initial_weights(const TensorFile& torch, const std::string& act, const std::string& path) {
  TensorFile merged = read_safetensors(fixture("resnet20_init.safetensors"));
  const std::string prefix = act + "/init.";
  for (const auto& [name, stored] : torch.tensors)
    if (name.rfind(prefix, 0) == 0) merged.tensors.emplace_back(name.substr(prefix.size()), stored);
  write_safetensors(merged, path);
}

}  // namespace

TEST_CASE("resnet20 with each parametric activation gives PyTorch's eval loss and SGD step (SPEC 8)") {
  const TensorFile torch = read_safetensors(fixture("resnet20_acts.safetensors"));
  const std::string dir = temp_dir("acts");
  int activations = 0;
  for (const std::string act : {"prelu", "swish", "acon-a", "acon-b", "acon-c", "meta-acon", "dyrelu-a", "dyrelu-b",
                                "dyrelu-c", "pwlu(stat_epochs=0)"}) {
    CAPTURE(act);
    const std::string init = dir + "/init-" + std::to_string(activations) + ".safetensors";
    write_initial_weights(torch, act, init);
    const std::string model = "--model resnet20 --act '" + std::string(act) + "' --data " + kTiny + " --threads 2 ";

    Run e = run_actlab("eval " + model + "--checkpoint " + init + " --json");
    REQUIRE_MESSAGE(e.status == 0, e.err);
    const double loss = nlohmann::json::parse(e.out)["loss"], expect = torch.tensor(std::string(act) + "/eval.loss").item();
    CHECK_MESSAGE(std::fabs(loss - expect) <= 1e-4 * expect, act << ": eval loss " << loss << ", PyTorch " << expect);

    const std::string run = dir + "/run-" + std::to_string(activations);
    Run t = run_actlab("train " + model + "--init-from " + init +
                       " --batch 16 --lr 0.1 --momentum 0 --wd 0 --schedule none --no-shuffle --no-augment"
                       " --max-steps 1 --out " + run);
    REQUIRE_MESSAGE(t.status == 0, t.err);
    const TensorFile before = read_safetensors(init), after = read_safetensors(run + "/model.safetensors");
    int compared = 0;
    for (const auto& [name, stored] : after.tensors) {
      if (stored.dtype != "F32") continue;
      const std::string key = std::string(act) + "/delta." + name;
      REQUIRE_MESSAGE(torch.find(key), "PyTorch has no " << name);
      const Tensor old = before.tensor(name), now = after.tensor(name), theirs = torch.tensor(key);
      double miss = 0.0, change = 0.0;
      for (int64_t i = 0; i < theirs.numel(); ++i) {
        const double ours = double(now.data()[i]) - old.data()[i];
        miss += (ours - theirs.data()[i]) * (ours - theirs.data()[i]);
        change += double(theirs.data()[i]) * theirs.data()[i];
      }
      miss = std::sqrt(miss), change = std::sqrt(change);
      const double spread = torch.tensor(std::string(act) + "/spread." + name).item();
      // PyTorch's deltas are stored in float16 (0.05% of each value): far inside the 1%.
      CHECK_MESSAGE(miss <= std::max(0.01 * change, 3.0 * spread) + 1e-6,
                    act << " " << name << " changed unlike PyTorch: |miss| " << miss << ", |change| " << change
                        << ", |spread| " << spread);
      ++compared;
    }
    CHECK(compared >= 116);
    ++activations;
  }
  CHECK(activations == 10);
  std::filesystem::remove_all(dir);
}
