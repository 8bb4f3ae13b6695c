// ResNet-20 against PyTorch: names and shapes, evaluation loss, one SGD step
// (compared as SPEC 8 says), and a small batch that the model must overfit.
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
    const Tensor old = before.tensor(name), now = after.tensor(name);
    const Tensor delta = expect.tensor("delta." + name), spread = expect.tensor("spread." + name);
    // SPEC 8, per tensor: |Δours − Δtorch| within 1% of |Δtorch| or within
    // 3× PyTorch's own spread under 1e-6 input jitter, whichever is larger.
    double miss = 0.0, change = 0.0, jitter = 0.0;
    for (int64_t i = 0; i < delta.numel(); ++i) {
      const double ours = double(now.data()[i]) - old.data()[i], theirs = delta.data()[i];
      miss += (ours - theirs) * (ours - theirs);
      change += theirs * theirs;
      jitter += double(spread.data()[i]) * spread.data()[i];
    }
    miss = std::sqrt(miss), change = std::sqrt(change), jitter = std::sqrt(jitter);
    CHECK_MESSAGE(miss <= std::max(0.01 * change, 3.0 * jitter) + 1e-9,
                  name << " changed unlike PyTorch: |miss| " << miss << ", |change| " << change << ", |spread| " << jitter);
    ++compared;
  }
  CHECK(compared == 97);
  std::filesystem::remove_all(out);
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
