// ResNet-18 and MobileNetV2 (and their CIFAR variants) against PyTorch modules
// laid out like torchvision's (tools/make_tv_model_fixtures.py): state_dict
// names and shapes, and logits in eval and training mode on formula weights;
// SPEC 7's parameter totals; the 3x3 preset's positions (SPEC 2.4); a short
// MobileNetV2 run whose loss falls.
#include <cmath>
#include <set>
#include <sstream>

#include "core/error.h"
#include "cli.h"
#include "helpers.h"
#include "layers/dropout.h"
#include "layers/module.h"
#include "models/mobilenetv2.h"
#include "models/model.h"
#include "train/optimizer.h"

using namespace actlab;
using namespace actlab::testing;

namespace {

uint64_t fnv1a64(const std::string& text) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char byte : text) h = (h ^ byte) * 0x100000001B3ull;
  return h;
}

// The fixture script's formula for a state_dict entry (see its docstring).
void fill_by_formula(const std::string& name, Tensor& t) {
  const uint64_t h = fnv1a64(name);
  const std::string leaf = name.substr(name.rfind('.') + 1);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    uint64_t z = h + static_cast<uint64_t>(i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const double u = static_cast<double>(z >> 40) / static_cast<double>(1 << 24);
    double v;
    if (leaf == "running_var") v = 0.5 + u;
    else if (leaf == "running_mean" || leaf == "bias") v = 0.2 * (2.0 * u - 1.0);
    else if (leaf == "beta") v = 0.5 + 1.5 * u;
    else if (leaf == "p1") v = 0.5 + u;
    else if (leaf == "p2") v = u - 0.5;
    else if (t.ndim() >= 2) v = (2.0 * u - 1.0) * std::sqrt(6.0 / static_cast<double>(n / t.shape()[0]));
    else v = 0.5 + u;
    t.data()[i] = static_cast<float>(v);
  }
}

std::shared_ptr<Model> build(const std::string& spec, const std::string& act, int64_t classes = 10) {
  ModelConfig c;
  c.spec = spec;
  c.act = act;
  c.classes = classes;
  return make_model(c);
}

std::string names_and_shapes(Model& model) {
  std::vector<std::pair<std::string, Shape>> entries;
  for (auto& [name, p] : model.named_parameters()) entries.emplace_back(name, p->var.value().shape());
  for (auto& [name, b] : model.named_buffers()) entries.emplace_back(name, b->shape());
  for (auto& [name, c] : model.named_counters()) entries.emplace_back(name, Shape{});
  std::set<std::string> sorted;
  for (auto& [name, shape] : entries) {
    std::string dims;
    for (size_t i = 0; i < shape.size(); ++i) {
      if (i) dims += 'x';   // not ("x" or "") + to_string(...): GCC 12 -Wrestrict misfires on that
      dims += std::to_string(shape[i]);
    }
    sorted.insert(name + ":" + dims);
  }
  std::string joined;
  for (const auto& s : sorted) joined += (joined.empty() ? "" : ",") + s;
  return joined;
}

std::string sorted_list(const std::string& comma_joined) {
  std::set<std::string> items;
  std::stringstream in(comma_joined);
  for (std::string item; std::getline(in, item, ',');) items.insert(item);
  std::string joined;
  for (const auto& s : items) joined += (joined.empty() ? "" : ",") + s;
  return joined;
}

// Logits differ by at most 1e-4 of the largest logit (and 1e-4 relative).
void check_logits(const std::string& what, const Tensor& ours, const Tensor& torch) {
  double scale = 0.0;
  for (int64_t i = 0; i < torch.numel(); ++i) scale = std::max(scale, std::fabs(static_cast<double>(torch.data()[i])));
  CHECK_MESSAGE(closeness(ours, torch, 1e-4, 1e-4 * scale) <= 1.0, what << " logits differ from PyTorch's");
}

}  // namespace

TEST_CASE("resnet18 and mobilenetv2 give the logits of torchvision-layout PyTorch modules") {
  const TensorFile expect = read_safetensors(fixture("tv_models.safetensors"));
  for (const std::string model_name : {"resnet18", "resnet18-cifar", "mobilenetv2", "mobilenetv2-cifar"}) {
    for (const std::string act : {"default", "acon-c"}) {
      const std::string key = model_name + "/" + act;
      CAPTURE(key);
      const std::string spec = model_name.rfind("mobilenetv2", 0) == 0 ? model_name + "(dropout=0)" : model_name;
      auto model = build(spec, act == "default" ? "" : act);
      CHECK(names_and_shapes(*model) == sorted_list(expect.metadata.at(key + "/names")));
      for (auto& [name, p] : model->named_parameters()) fill_by_formula(name, p->var.value());
      for (auto& [name, b] : model->named_buffers()) fill_by_formula(name, *b);
      const Tensor x = expect.tensor(model_name + "/x");
      {
        NoGradScope no_grad;
        model->eval();
        check_logits(key + " eval", (*model)(Var(x)).value(), expect.tensor(key + "/eval"));
        model->train();
        check_logits(key + " train", (*model)(Var(x)).value(), expect.tensor(key + "/train"));
      }
    }
  }
}

TEST_CASE("a misplaced weight changes resnet18's logits beyond the tolerance") {
  // The parity check above can fail: swap two blocks' conv1 weights.
  const TensorFile expect = read_safetensors(fixture("tv_models.safetensors"));
  auto model = build("resnet18-cifar", "");
  for (auto& [name, p] : model->named_parameters())
    fill_by_formula(name == "layer2.1.conv1.weight" ? "layer2.1.conv2.weight" : name, p->var.value());
  for (auto& [name, b] : model->named_buffers()) fill_by_formula(name, *b);
  NoGradScope no_grad;
  model->eval();
  const Tensor ours = (*model)(Var(expect.tensor("resnet18-cifar/x"))).value();
  double scale = 0.0;
  const Tensor torch = expect.tensor("resnet18-cifar/default/eval");
  for (int64_t i = 0; i < torch.numel(); ++i) scale = std::max(scale, std::fabs(static_cast<double>(torch.data()[i])));
  CHECK(closeness(ours, torch, 1e-4, 1e-4 * scale) > 10.0);
}

TEST_CASE("SPEC 7 parameter totals and multiply-adds of resnet18 and mobilenetv2") {
  struct Row {
    std::string act;
    int64_t resnet18, mobilenetv2;
  };
  const Row rows[] = {{"", 11689512, 3504872},
                      {"acon-c", 11701224, 3551528},
                      {"meta-acon", 11900504, 4941624},
                      {"meta-acon(bn=false)", 11892024, 4908376},
                      {"dyrelu-b", 13452024, 16899608},
                      {"pwlu", 11771496, 3831464},
                      {"pwlu(mode=layer)", 11689869, 3505607}};
  for (const Row& row : rows) {
    CAPTURE(row.act);
    CHECK(build("resnet18", row.act, 1000)->parameter_count() == row.resnet18);
    CHECK(build("mobilenetv2", row.act, 1000)->parameter_count() == row.mobilenetv2);
  }
  CHECK(build("resnet18", "")->positions().size() == 17);
  CHECK(build("mobilenetv2", "")->positions().size() == 35);
  CHECK(make_divisible(32 * 0.5) == 16);
  CHECK(make_divisible(1280 * 1.0) == 1280);
  CHECK(make_divisible(24 * 0.35) == 8);
}

TEST_CASE("preset 3x3 places the activation after every depthwise conv of mobilenetv2 and every block's conv1") {
  ModelConfig c;
  c.spec = "mobilenetv2";
  c.act_at = {"preset:3x3=swish"};
  auto model = make_model(c);
  std::vector<std::string> swish;
  for (const auto& p : model->positions())
    if (p.spec == "swish") swish.push_back(p.name);
  std::vector<std::string> expected = {"features.1.conv.0.2"};
  for (int n = 2; n <= 17; ++n) expected.push_back("features." + std::to_string(n) + ".conv.1.2");
  CHECK(swish == expected);

  c.spec = "resnet18";
  model = make_model(c);
  swish.clear();
  for (const auto& p : model->positions())
    if (p.spec == "swish") swish.push_back(p.name);
  expected.clear();
  for (int s = 1; s <= 4; ++s)
    for (int i = 0; i < 2; ++i) expected.push_back("layer" + std::to_string(s) + "." + std::to_string(i) + ".act1");
  CHECK(swish == expected);
}

TEST_CASE("mobilenetv2-cifar with dropout learns a small batch: the loss falls") {
  ModelConfig c;
  c.spec = "mobilenetv2-cifar(width=0.5)";
  c.act = "dyrelu-b";
  c.classes = 4;
  c.seed = 3;
  auto model = make_model(c);
  Random rng(7);
  const Tensor x = random_tensor({8, 3, 16, 16}, rng);
  const std::vector<int32_t> labels = {0, 1, 2, 3, 3, 2, 1, 0};
  Sgd sgd(model->named_parameters(), SgdOptions{0.9f, 0.0f, false, false});
  model->train();
  float first = 0.0f, last = 0.0f;
  for (int step = 0; step < 25; ++step) {
    model->reseed(mix_seed(1, step));
    Var loss = ops::cross_entropy((*model)(Var(x)), labels);
    if (step == 0) first = loss.value().item();
    last = loss.value().item();
    sgd.zero_grad();
    backward(loss);
    sgd.step(0.01f);
  }
  CHECK_MESSAGE(last < 0.1f * first, "loss " << first << " -> " << last);
}

TEST_CASE("dropout zeroes about p of the elements in training, scales the rest, and is the identity in eval") {
  Dropout dropout(0.3f);
  dropout.reseed(11);
  Var x(Tensor::full({20000}, 1.0f), true);
  Var y = dropout(x);
  int64_t zeros = 0;
  bool scaled = true;
  for (int64_t i = 0; i < y.value().numel(); ++i) {
    const float v = y.value().data()[i];
    zeros += v == 0.0f;
    scaled = scaled && (v == 0.0f || v == 1.0f / 0.7f);
  }
  CHECK(scaled);
  CHECK(std::fabs(zeros / 20000.0 - 0.3) < 0.015);
  backward(ops::sum(y));
  CHECK_CLOSE("dx = mask", x.grad(), y.value(), 0.0, 0.0);  // dy = 1, so dx is the mask itself

  dropout.reseed(11);
  Var again = dropout(Var(Tensor::full({20000}, 1.0f)));
  CHECK_CLOSE("same seed, same mask", again.value(), y.value(), 0.0, 0.0);
  dropout.eval();
  CHECK_CLOSE("identity in eval", dropout(x).value(), x.value(), 0.0, 0.0);
  CHECK_THROWS_WITH_AS(Dropout(1.0f), doctest::Contains("dropout"), Error);
  ModelConfig c;
  c.spec = "mobilenetv2(widht=1)";
  CHECK_THROWS_WITH_AS(make_model(c), doctest::Contains("widht"), Error);
}

TEST_CASE("init-from: a partial load keeps swapped-in activation parameters, skip-head leaves out the classifier") {
  const std::string tiny = "fashion-mnist:" + fixture("tiny-fmnist");
  const std::string init = fixture("resnet20_init.safetensors");  // ReLU ResNet-20, 1 channel, 10 classes
  const std::string dir = temp_dir("init-partial");
  const std::string common = " --model resnet20 --data " + tiny + " --init-from " + init +
                             " --batch 16 --max-steps 1 --no-augment --threads 2 --out " + dir;
  // Strict by default: the ACON-C parameters are not in the file.
  check_one_line_error(run_actlab("train --act acon-c" + common + "/strict"), "--init-partial");
  Run r = run_actlab("train --act acon-c --init-partial" + common + "/partial");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.out.find("57 tensors not in") != std::string::npos);   // 19 positions × (p1, p2, beta)
  // The loaded backbone is PyTorch's; the kept ACON-C parameters are still at their initial β = 1.
  const TensorFile saved = read_safetensors(dir + "/partial/model.safetensors");
  CHECK(saved.find("layer3.2.act2.beta") != nullptr);

  // Another class count (12 > the data's 10): the head does not fit unless it is skipped.
  check_one_line_error(run_actlab("train --classes 12" + common + "/head"), "fc.weight");
  r = run_actlab("train --classes 12 --init-skip-head" + common + "/skip");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.out.find("classifier (fc.weight, fc.bias) is not loaded") != std::string::npos);
  check_one_line_error(run_actlab("train --model resnet20 --data " + tiny + " --init-skip-head --max-steps 1 --out " +
                                  dir + "/alone"),
                       "--init-from");
}
