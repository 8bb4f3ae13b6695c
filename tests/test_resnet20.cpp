// ResNet-20 against PyTorch: names and shapes, evaluation loss, one SGD step
// and one epoch of SPEC 5's optimizer and schedule (compared as SPEC 8 says),
// and a small batch that the model must overfit.
#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "helpers.h"
#include "models/model.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"

using namespace actlab;
using namespace actlab::testing;

namespace {

std::shared_ptr<Model> resnet20(int64_t in_channels, int64_t classes) {
  ModelConfig c;
  c.in_channels = in_channels;
  c.classes = classes;
  return make_model(c);
}

const std::string kTiny = "fashion-mnist:" + fixture("tiny-fmnist");

// SPEC 8, per tensor: |Δours − Δtorch| within 1% of |Δtorch| or within 3×
// PyTorch's own spread under 1e-6 input jitter (`jitter`, a norm), whichever
// is larger.
void check_change(const std::string& name, const Tensor& before, const Tensor& after, const Tensor& torch_delta,
                  double jitter) {
  REQUIRE(torch_delta.numel() == after.numel());
  double miss = 0.0, change = 0.0;
  for (int64_t i = 0; i < torch_delta.numel(); ++i) {
    const double ours = double(after.data()[i]) - before.data()[i], theirs = torch_delta.data()[i];
    miss += (ours - theirs) * (ours - theirs);
    change += theirs * theirs;
  }
  miss = std::sqrt(miss), change = std::sqrt(change);
  CHECK_MESSAGE(miss <= std::max(0.01 * change, 3.0 * jitter) + 1e-9,
                name << " changed unlike PyTorch: |miss| " << miss << ", |change| " << change << ", |spread| " << jitter);
}

}  // namespace

TEST_CASE("resnet20 has 269,722 parameters and PyTorch's state_dict names and shapes") {
  CHECK(resnet20(3, 10)->parameter_count() == 269722);
  auto model = resnet20(1, 10);
  load_model(*model, fixture("resnet20_init.safetensors"));  // strict: every name, shape and dtype
  const TensorFile torch = read_safetensors(fixture("resnet20_init.safetensors"));
  const TensorFile ours = model_state(*model, {});
  CHECK(ours.tensors.size() == torch.tensors.size());
  for (const auto& [name, t] : ours.tensors) {
    const StoredTensor* p = torch.find(name);
    REQUIRE_MESSAGE(p, "PyTorch has no tensor " << name);
    CHECK_MESSAGE(p->shape == t.shape, name << " shape");
    CHECK_MESSAGE(p->dtype == t.dtype, name << " dtype");
    CHECK_MESSAGE(p->bytes == t.bytes, name << " round-trips bit for bit");
  }
}

TEST_CASE("actlab eval gives PyTorch's loss on PyTorch's weights") {
  const TensorFile expect = read_safetensors(fixture("resnet20_expect.safetensors"));
  Run r = run_actlab("eval --model resnet20 --data " + kTiny + " --checkpoint " + fixture("resnet20_init.safetensors") +
                 " --json --threads 2");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["samples"] == 48);
  const double torch_loss = expect.tensor("eval.loss").item();
  CHECK_MESSAGE(std::fabs(j["loss"].get<double>() - torch_loss) <= 1e-4 * torch_loss,
                "eval loss " << j["loss"] << " vs PyTorch " << torch_loss);
  CHECK(j["accuracy"].get<double>() == doctest::Approx(expect.tensor("eval.accuracy").item()));
}

TEST_CASE("one SGD step from the CLI changes every tensor as PyTorch's step does (SPEC 8)") {
  const std::string out = temp_dir("step");
  Run r = run_actlab("train --model resnet20 --data " + kTiny + " --init-from " + fixture("resnet20_init.safetensors") +
                 " --batch 16 --lr 0.1 --momentum 0 --wd 0 --schedule none --no-shuffle --no-augment --max-steps 1"
                 " --threads 2 --out " + out + "/run");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const TensorFile before = read_safetensors(fixture("resnet20_init.safetensors"));
  const TensorFile after = read_safetensors(out + "/run/model.safetensors");
  const TensorFile expect = read_safetensors(fixture("resnet20_expect.safetensors"));
  int compared = 0;
  for (const auto& [name, stored] : after.tensors) {
    if (stored.dtype == "I64") {
      CHECK_MESSAGE(after.i64(name) == expect.i64("after." + name), name << " counter");
      continue;
    }
    const Tensor spread = expect.tensor("spread." + name);
    double jitter = 0.0;
    for (float v : spread.to_vector()) jitter += double(v) * v;
    check_change(name, before.tensor(name), after.tensor(name), expect.tensor("delta." + name), std::sqrt(jitter));
    ++compared;
  }
  CHECK(compared == 97);
  std::filesystem::remove_all(out);
}

TEST_CASE("one epoch of SPEC 5's optimizer from the CLI changes every tensor as PyTorch's SGD does") {
  // Four steps: momentum, a per-iteration cosine, and weight decay on the weights only (role) or on every
  // parameter with Nesterov momentum (all). A one-step test sees none of momentum, the schedule's later
  // values or the decay; lr 0.02 and wd 0.05 (tools/make_fixtures.py) make all three show.
  const TensorFile before = read_safetensors(fixture("resnet20_init.safetensors"));
  const TensorFile expect = read_safetensors(fixture("resnet20_recipe.safetensors"));
  for (const std::string variant : {"role", "all"}) {
    CAPTURE(variant);
    const std::string out = temp_dir("recipe-" + variant);
    Run r = run_actlab("train --model resnet20 --data " + kTiny + " --init-from " +
                       fixture("resnet20_init.safetensors") +
                       " --batch 16 --epochs 1 --no-shuffle --no-augment --lr 0.02 --wd 0.05 --threads 2 --out " + out +
                       "/run" + (variant == "all" ? " --wd-on all --nesterov" : ""));
    REQUIRE_MESSAGE(r.status == 0, r.err);
    const TensorFile after = read_safetensors(out + "/run/model.safetensors");
    // The epoch's mean training loss is the mean of PyTorch's four (equal batches), within 1e-4 or 3×
    // that mean's own spread under the jitter.
    std::ifstream metrics(out + "/run/metrics.jsonl");
    std::string line;
    REQUIRE(std::getline(metrics, line));
    const std::vector<float> losses = expect.tensor(variant + ".loss").to_vector();
    const double torch_loss = std::accumulate(losses.begin(), losses.end(), 0.0) / losses.size();
    const double ours = nlohmann::json::parse(line)["train_loss"].get<double>();
    CHECK_MESSAGE(std::fabs(ours - torch_loss) <=
                      std::max(1e-4 * torch_loss, 3.0 * expect.tensor(variant + ".loss_spread").item()),
                  "mean training loss " << ours << " vs PyTorch " << torch_loss);
    int compared = 0;
    for (const auto& [name, stored] : after.tensors) {
      if (stored.dtype == "I64") {
        CHECK_MESSAGE(after.i64(name) == 11, name << ": 7 + 4 batches");
        continue;
      }
      check_change(name, before.tensor(name), after.tensor(name), expect.tensor(variant + ".delta." + name),
                   expect.tensor(variant + ".spread." + name).item());
      ++compared;
    }
    CHECK(compared == 97);
    std::filesystem::remove_all(out);
  }
}

TEST_CASE("resnet20 overfits one small batch") {
  auto model = resnet20(1, 10);
  Random rng(7);
  Tensor images = random_tensor({8, 1, 12, 12}, rng);
  std::vector<int32_t> labels{0, 1, 2, 3, 4, 5, 6, 7};
  Sgd sgd(model->named_parameters(), SgdOptions{0.9f, 0.0f, false, false});
  float first = 0.0f, last = 0.0f;
  for (int step = 0; step < 60; ++step) {
    Var loss = ops::cross_entropy((*model)(Var(images)), labels);
    if (step == 0) first = loss.value().item();
    last = loss.value().item();
    sgd.zero_grad();
    backward(loss);
    sgd.step(0.05f);
  }
  CHECK_MESSAGE(last < 0.05f * first, "loss went from " << first << " to only " << last);
}

// SPEC 5: the same seed, thread count and device give the same run, bit for bit, on the CPU. At batch
// 128 on 32x32 inputs oneDNN runs the 16-channel 3x3 convolutions as Winograd (jit_wino_4x3), whose
// per-thread sums must still come together in a fixed order.
TEST_CASE("two CPU training runs from the same seed end with the same weights, bit for bit") {
  set_num_threads(2);
  auto train = [] {
    ModelConfig config;
    config.seed = 11;
    auto model = make_model(config);
    Random rng(12);
    const Tensor images = random_tensor({128, 3, 32, 32}, rng);
    std::vector<int32_t> labels(128);
    for (auto& label : labels) label = static_cast<int32_t>(rng.below(10));
    Sgd sgd(model->named_parameters(), SgdOptions{});
    for (int step = 0; step < 2; ++step) {
      Var loss = ops::cross_entropy((*model)(Var(images)), labels);
      sgd.zero_grad();
      backward(loss);
      sgd.step(0.1f);
    }
    std::vector<float> weights;
    for (auto& [name, p] : model->named_parameters()) {
      const std::vector<float> v = p->var.value().to_vector();
      weights.insert(weights.end(), v.begin(), v.end());
    }
    return weights;
  };
  const std::vector<float> first = train(), second = train();
  REQUIRE(first.size() == second.size());
  size_t differing = 0;
  for (size_t i = 0; i < first.size(); ++i) differing += first[i] != second[i];
  CHECK_MESSAGE(differing == 0, differing << " of " << first.size() << " weights differ between the two runs");
}
