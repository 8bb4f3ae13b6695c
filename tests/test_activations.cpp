// Every activation of SPEC 1 implemented so far, three independent ways:
// finite differences of the fused kernels (inputs and parameters), the fused
// kernels against the version composed from tape primitives (1e-5 relative),
// and PyTorch modules written from SPEC 1 (committed fixtures).
#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <filesystem>
#include <sstream>

#include "activations/activation.h"
#include "activations/pointwise_math.h"
#include "activations/pwlu_math.h"
#include "autograd/ops.h"
#include "cli.h"
#include "core/error.h"
#include "helpers.h"
#include "train/safetensors.h"

using namespace actlab;
using namespace actlab::testing;

namespace {

// Every registered name, plus the option variants worth checking on their own.
std::vector<std::string> specs() {
  std::vector<std::string> all = activation_names();
  for (const char* extra : {"leaky-relu(slope=0.2)", "elu(alpha=0.5)", "swish(beta=1.5)", "acon-c(init=swish)",
                            "prelu(init=0.1)", "meta-acon(r=2)", "meta-acon(r=2,bn=false)", "meta-acon(space=layer)",
                            "meta-acon(space=pixel)", "dyrelu-b(k=3,r=2)", "dyrelu-c(tau=2)", "dyrelu-c(k=3)",
                            "pwlu(stat_epochs=0)", "pwlu(n=8,mode=layer,stat_epochs=0)"})
    all.push_back(extra);
  return all;
}

// Kinks of SPEC 1.1 (ReLU-like corners at −3, 0, 3, 6; x = σ(x) at 0.659…):
// inputs stay 0.05 away so both one-sided derivatives agree.
Tensor away_from_kinks(Tensor x) {
  for (int64_t i = 0; i < x.numel(); ++i)
    for (float k : {-3.0f, 0.0f, 0.6590460684f, 3.0f, 6.0f})
      if (std::fabs(x.data()[i] - k) < 0.05f) x.data()[i] += 0.1f;
  return x;
}

// Moves every parameter off its initial value (a symmetric start can hide a
// wrong formula), keeping β positive and PReLU's slope in (0, 0.5).
void perturb(Activation& act, Random& rng) {
  for (auto& [name, p] : act.named_parameters()) {
    Tensor& t = p->var.value();
    for (int64_t i = 0; i < t.numel(); ++i) {
      float& v = t.data()[i];
      if (name == "beta") v = 0.5f + 1.5f * rng.uniform(0.0f, 1.0f);
      else if (name == "weight") v = rng.uniform(0.0f, 0.5f);
      else v += rng.normal(0.0f, 0.5f);
    }
  }
}

std::vector<Tensor> parameter_grads(Activation& act) {
  std::vector<Tensor> out;
  for (auto& [name, p] : act.named_parameters()) out.push_back(p->var.grad().defined() ? p->var.grad().clone() : Tensor());
  return out;
}

// PWLU: inputs 0.02 away from every breakpoint B_L + j·d of their channel.
Tensor away_from_breakpoints(Activation& act, Tensor x) {
  const Tensor* left = nullptr;
  const Tensor* right = nullptr;
  int64_t n = 0;
  for (auto& [name, p] : act.named_parameters()) {
    if (name == "bound_left") left = &p->var.value();
    if (name == "bound_right") right = &p->var.value();
    if (name == "points") n = p->var.size(1) - 1;
  }
  if (!left || !right) return x;
  const int64_t C = x.size(1), HW = x.numel() / (x.size(0) * C);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t row = left->numel() == 1 ? 0 : (i / HW) % C;
    const float bl = left->data()[row], br = right->data()[row];
    for (int64_t j = 0; j <= n; ++j)
      if (std::fabs(x.data()[i] - (bl + j * (br - bl) / n)) < 0.02f) x.data()[i] += 0.05f;
  }
  return x;
}

// Past every schedule's start: PWLU's parameters learn (phase II).
void learning(Activation& act) { act.start_epoch(1 << 20); }

void clear_grads(Activation& act) {
  for (auto& [name, p] : act.named_parameters()) p->var.set_grad(Tensor());
}

}  // namespace

TEST_CASE("every activation's fused gradients match finite differences, parameters included") {
  for (const std::string& spec : specs()) {
    Random rng(31);
    auto act = make_activation(spec, 3, rng);
    learning(*act);
    perturb(*act, rng);
    std::vector<Var> inputs{Var(away_from_breakpoints(*act, away_from_kinks(random_tensor({2, 3, 3, 4}, rng, 2.0f))), true)};
    for (auto& [name, p] : act->named_parameters()) inputs.push_back(p->var);
    gradcheck(spec, inputs, [&](std::vector<Var>& v) { return (*act)(v[0]); });
  }
}

TEST_CASE("every activation's fused kernels agree with its composed reference (1e-5 relative)") {
  for (const std::string& spec : specs()) {
    Random rng(32);
    auto act = make_activation(spec, 5, rng);
    learning(*act);
    perturb(*act, rng);
    const Tensor x = away_from_breakpoints(*act, away_from_kinks(random_tensor({4, 5, 6, 7}, rng, 2.0f)));
    const Tensor dy = random_tensor(x.shape(), rng);
    auto run = [&](bool fused) {
      clear_grads(*act);
      Var in(x.clone(), true);
      Var y = fused ? (*act)(in) : act->composed(in);
      const Tensor value = y.value();
      backward(ops::sum(ops::mul(y, Var(dy))));
      std::vector<Tensor> out{value, in.grad()};
      for (const Tensor& g : parameter_grads(*act)) out.push_back(g);
      return out;
    };
    const auto fused = run(true), composed = run(false);
    REQUIRE(fused.size() == composed.size());
    const char* what[] = {"output", "input gradient"};
    for (size_t i = 0; i < fused.size(); ++i) {
      REQUIRE_MESSAGE(fused[i].defined() == composed[i].defined(), spec << ": gradient " << i << " missing");
      if (!fused[i].defined()) continue;
      const std::string name = i < 2 ? what[i] : act->named_parameters()[i - 2].first;
      CHECK_CLOSE(spec << " " << name, fused[i], composed[i], 1e-5, 1e-5);
    }
  }
}

TEST_CASE("every activation matches PyTorch modules written from SPEC 1 (forward and all gradients)") {
  const TensorFile torch = read_safetensors(fixture("activations.safetensors"));
  int checked = 0;
  for (const std::string& spec : specs()) {
    if (!torch.find(spec + ".x")) continue;
    Random rng(33);
    const Tensor x = torch.tensor(spec + ".x");
    auto act = make_activation(spec, x.size(1), rng);
    learning(*act);
    for (auto& [name, p] : act->named_parameters()) {
      REQUIRE_MESSAGE(torch.find(spec + "." + name), spec << ": PyTorch has no parameter " << name);
      p->var.value().copy_from(torch.tensor(spec + "." + name));
    }
    Var in(x.clone(), true);
    Var y = (*act)(in);
    CHECK_CLOSE(spec << " output", y.value(), torch.tensor(spec + ".y"), 1e-5, 1e-6);
    backward(ops::sum(ops::mul(y, Var(torch.tensor(spec + ".dy")))));
    CHECK_CLOSE(spec << " input gradient", in.grad(), torch.tensor(spec + ".dx"), 1e-5, 1e-6);
    for (auto& [name, p] : act->named_parameters())
      CHECK_CLOSE(spec << " gradient of " << name, p->var.grad(), torch.tensor(spec + ".d" + name), 1e-4, 1e-5);
    ++checked;
  }
  CHECK(checked == 35);
}

TEST_CASE("activation parameters: SPEC 1 names, shapes, initial values and the act role") {
  Random rng(34);
  auto shape_of = [&](const std::string& spec, const std::string& name) {
    auto act = make_activation(spec, 6, rng);
    return act->parameter(name).var.shape();
  };
  CHECK(shape_of("prelu", "weight") == Shape{6});
  CHECK(shape_of("swish", "beta") == Shape{1, 6, 1, 1});
  CHECK(shape_of("acon-b", "p") == Shape{1, 6, 1, 1});
  CHECK(shape_of("acon-c", "p2") == Shape{1, 6, 1, 1});
  auto prelu = make_activation("prelu", 6, rng);
  CHECK(prelu->parameter("weight").var.value().to_vector() == std::vector<float>(6, 0.25f));
  CHECK(prelu->parameter("weight").role == Role::act);
  auto acon = make_activation("acon-c(init=swish)", 2, rng);
  CHECK(acon->parameter("p1").var.value().to_vector() == std::vector<float>{1.0f, 1.0f});
  CHECK(acon->parameter("p2").var.value().to_vector() == std::vector<float>{0.0f, 0.0f});
  CHECK(make_activation("acon-b", 2, rng)->parameter("p").var.value().to_vector() == std::vector<float>{0.25f, 0.25f});
  CHECK(make_activation("swish(beta=2)", 1, rng)->parameter("beta").var.value().item() == 2.0f);
  CHECK_THROWS_WITH_AS(make_activation("acon-c(init=zeros)", 2, rng), doctest::Contains("init"), Error);
  CHECK_THROWS_WITH_AS(make_activation("elu(slope=1)", 2, rng), doctest::Contains("slope"), Error);
  auto meta = make_activation("meta-acon", 32, rng);
  auto find = [&](const std::string& name) {
    for (auto& [n, p] : meta->named_parameters())
      if (n == name) return p;
    FAIL("no parameter " << name);
    return static_cast<Parameter*>(nullptr);
  };
  CHECK(find("fc1.weight")->var.shape() == Shape{16, 32, 1, 1});   // h = max(r, C/r)
  CHECK(find("fc1.weight")->role == Role::weight);
  CHECK(find("fc2.bias")->role == Role::bias);
  CHECK(find("bn2.bias")->role == Role::bn);
  CHECK(meta->parameter("p1").role == Role::act);
  CHECK_THROWS_WITH_AS((*meta)(Var(random_tensor({1, 32, 3, 3}, rng))), doctest::Contains("bn=false"), Error);
  meta->eval();
  CHECK((*meta)(Var(random_tensor({1, 32, 3, 3}, rng))).shape() == Shape{1, 32, 3, 3});
  CHECK(make_activation("meta-acon(bn=false)", 32, rng)->named_parameters().size() == 6);
  CHECK(make_activation("meta-acon(space=pixel)", 32, rng)->named_parameters().size() == 2);
}

TEST_CASE("layers inside an activation start as PyTorch builds them: dyrelu-c's attention starts near uniform") {
  // nn.Conv2d's default init, U(±1/√fan_in) for weight and bias, not the backbone's He fan_out: for
  // `spatial` (C→1) He's N(0, 2) makes z/τ spread over ±1 and π collapses to a few pixels within ten
  // steps, where the paper's τ = 10 is there to keep it spread early in training.
  Random rng(35);
  const int64_t C = 64;
  auto dyrelu = make_activation("dyrelu-c", C, rng);
  std::map<std::string, Tensor> spatial;
  for (auto& [name, p] : dyrelu->named_parameters()) spatial[name] = p->var.value();
  const Tensor w = spatial.at("spatial.weight");
  const float bias = spatial.at("spatial.bias").item();
  const float bound = 1.0f / std::sqrt(static_cast<float>(C));
  float largest = 0.0f;
  for (float v : w.to_vector()) largest = std::max(largest, std::fabs(v));
  CHECK(largest <= bound);
  CHECK(largest > 0.8f * bound);             // spread over the whole interval, not near zero
  CHECK(std::fabs(bias) <= bound);
  CHECK(bias != 0.0f);

  // π = min(γ·softmax_hw(z/τ), 1) with γ = HW/3 on a unit-variance input: within 20% of 1/3 everywhere.
  const int64_t N = 4, HW = 64;
  const Tensor x = random_tensor({N, C, 8, 8}, rng);
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> z(HW, bias);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < HW; ++p) z[p] += w.data()[c] * x.data()[(n * C + c) * HW + p];
    double total = 0.0;
    for (double& v : z) total += (v = std::exp(v / 10.0));
    for (int64_t p = 0; p < HW; ++p) {
      const double pi = std::min(HW / 3.0 * z[p] / total, 1.0);
      CHECK(pi == doctest::Approx(1.0 / 3.0).epsilon(0.2));
    }
  }

  // Meta-ACON's generator: fc1 is C→h, fc2 is h→C, both 1×1 with bias.
  auto meta = make_activation("meta-acon", 32, rng);
  for (auto& [name, p] : meta->named_parameters()) {
    if (name.rfind("fc", 0) != 0) continue;
    const float limit = 1.0f / std::sqrt(name.rfind("fc1", 0) == 0 ? 32.0f : 16.0f);   // h = 16
    for (float v : p->var.value().to_vector()) CHECK_MESSAGE(std::fabs(v) <= limit, name);
  }
}

TEST_CASE("summary --json reports SPEC 7's parameter totals for resnet20 with each activation there") {
  for (const auto& [act, total] : std::vector<std::pair<std::string, int64_t>>{
           {"relu", 269722}, {"acon-c", 271786}, {"meta-acon", 296090}, {"meta-acon(bn=false)", 294106},
           {"dyrelu-b", 313286}, {"pwlu", 284170}, {"pwlu(mode=layer)", 270121}}) {
    Run r = run_actlab("summary --model resnet20 --act '" + act + "' --json");
    REQUIRE_MESSAGE(r.status == 0, r.err);
    const auto summary = nlohmann::json::parse(r.out);
    CHECK_MESSAGE(summary["parameters"].get<int64_t>() == total, act);
    int64_t rows = 0, positions = 0;
    for (const auto& layer : summary["layers"]) {
      rows += layer["parameters"].get<int64_t>();
      positions += layer["layer"].get<std::string>() == act;
    }
    CHECK_MESSAGE(rows == total, act << ": the rows add up to " << rows);
    CHECK_MESSAGE(positions == 19, act << ": " << positions << " activation positions listed");
  }
}

TEST_CASE("act plot writes f and f' of each activation to SVG and CSV, and act explain prints the tape and agrees") {
  const std::string dir = temp_dir("plot");
  Run r = run_actlab("act plot relu silu 'leaky-relu(slope=0.2)' --range -2,2 --points 5 --out " + dir + "/a.svg");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(slurp(dir + "/a.svg").find("<svg") == 0);
  std::istringstream csv(slurp(dir + "/a.csv"));
  std::string line;
  std::getline(csv, line);
  CHECK(line == "x,\"f:relu\",\"df:relu\",\"f:silu\",\"df:silu\",\"f:leaky-relu(slope=0.2)\",\"df:leaky-relu(slope=0.2)\"");
  int rows = 0;
  while (std::getline(csv, line)) {
    std::vector<double> v;
    std::stringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) v.push_back(std::stod(cell));
    REQUIRE(v.size() == 7);
    const double x = v[0], s = 1.0 / (1.0 + std::exp(-x));
    CHECK(v[1] == doctest::Approx(std::max(x, 0.0)));
    CHECK(v[3] == doctest::Approx(x * s).epsilon(1e-5));
    CHECK(v[4] == doctest::Approx(s * (1 + x * (1 - s))).epsilon(1e-5));
    CHECK(v[5] == doctest::Approx(x >= 0 ? x : 0.2 * x));
    CHECK(v[6] == doctest::Approx(x > 0 ? 1.0 : 0.2));
    ++rows;
  }
  CHECK(rows == 5);
  check_one_line_error(run_actlab("act plot relu --out " + dir + "/a.png"), "must end in .svg");
  check_one_line_error(run_actlab("act plot swoosh --out " + dir + "/b.svg"), "unknown activation 'swoosh'");

  Run e = run_actlab("act explain acon-b --input=-1,0.5,2");
  REQUIRE_MESSAGE(e.status == 0, e.err);
  for (const std::string needle : {"#0 ", "sigmoid", "dL/dp ", "dL/dbeta", "fused kernels", "finite differences"})
    CHECK_MESSAGE(e.out.find(needle) != std::string::npos, "explain output lacks " << needle);
  std::filesystem::remove_all(dir);
}

TEST_CASE("pwlu starts as ReLU, keeps statistics with frozen parameters in phase I, realigns and learns in phase II") {
  Random rng(40);
  auto act = make_activation("pwlu(n=4,stat_epochs=1,momentum=0.5,sigmas=2)", 2, rng);
  const Tensor probe = random_tensor({2, 2, 3, 3}, rng, 3.0f);
  {
    NoGradScope no_grad;
    const Tensor y = (*act)(Var(probe)).value();
    for (int64_t i = 0; i < y.numel(); ++i) CHECK(y.data()[i] == doctest::Approx(std::max(probe.data()[i], 0.0f)));
  }
  act->start_epoch(0);
  // Two training batches: channel 0 holds μ + σ·z with known moments.
  double expect_mean[2] = {0, 0}, expect_std[2] = {1, 1};
  for (int batch = 0; batch < 2; ++batch) {
    Tensor x = random_tensor({4, 2, 3, 3}, rng, 1.0f + batch);
    double mean[2] = {0, 0}, square[2] = {0, 0};
    for (int64_t i = 0; i < x.numel(); ++i) mean[(i / 9) % 2] += x.data()[i], square[(i / 9) % 2] += double(x.data()[i]) * x.data()[i];
    for (int c = 0; c < 2; ++c) {
      const double mu = mean[c] / 36, sd = std::sqrt(square[c] / 36 - mu * mu);
      expect_mean[c] = 0.5 * expect_mean[c] + 0.5 * mu;
      expect_std[c] = 0.5 * expect_std[c] + 0.5 * sd;
    }
    Var in(x, true);
    backward(ops::sum((*act)(in)));
    CHECK(in.grad().defined());
    for (auto& [name, p] : act->named_parameters()) CHECK_MESSAGE(!p->var.grad().defined(), name << " learns in phase I");
  }
  const auto& buffers = act->named_buffers();
  for (int c = 0; c < 2; ++c) {
    CHECK(buffers[0].second->data()[c] == doctest::Approx(expect_mean[c]).epsilon(1e-5));
    CHECK(buffers[1].second->data()[c] == doctest::Approx(expect_std[c]).epsilon(1e-5));
  }
  act->start_epoch(1);   // phase II: B = μ ± 2σ, points max(B_i, 0), K_L = 0, K_R = 1
  std::map<std::string, Tensor> p;
  for (auto& [name, param] : act->named_parameters()) p[name] = param->var.value();
  for (int c = 0; c < 2; ++c) {
    const double left = expect_mean[c] - 2 * expect_std[c], right = expect_mean[c] + 2 * expect_std[c];
    CHECK(p["bound_left"].data()[c] == doctest::Approx(left).epsilon(1e-5));
    CHECK(p["bound_right"].data()[c] == doctest::Approx(right).epsilon(1e-5));
    for (int i = 0; i <= 4; ++i)
      CHECK(p["points"].data()[c * 5 + i] == doctest::Approx(std::max(left + i * (right - left) / 4, 0.0)).epsilon(1e-5));
    CHECK(p["slope_left"].data()[c] == 0.0f);
    CHECK(p["slope_right"].data()[c] == 1.0f);
  }
  backward(ops::sum((*act)(Var(probe))));
  for (auto& [name, param] : act->named_parameters()) CHECK_MESSAGE(param->var.grad().defined(), name << " frozen in phase II");
  CHECK_THROWS_WITH_AS(make_activation("pwlu(n=5)", 2, rng), doctest::Contains("even"), Error);
}

TEST_CASE("pwlu's fused CPU kernels pick the segment as pwlu_math.h does: at breakpoints, between them, far out") {
  // The CPU kernels clamp the segment index in float and truncate; pwlu_math.h
  // (used by the CUDA twins) floors and then clamps. Where they disagreed, dx
  // would take the neighbouring segment's slope.
  for (const std::string spec : {"pwlu(stat_epochs=0)", "pwlu(n=8,mode=layer,stat_epochs=0)"}) {
    Random rng(34);
    const int64_t C = 3;
    auto act = make_activation(spec, C, rng);
    learning(*act);
    perturb(*act, rng);
    std::map<std::string, Tensor> param;
    for (auto& [name, p] : act->named_parameters()) param[name] = p->var.value();
    const int64_t n = param["points"].size(1) - 1;
    const bool layer = param["bound_left"].numel() == 1;
    auto channel = [&](int64_t c) {
      const int64_t r = layer ? 0 : c;
      return pwlu::Channel{param["points"].data() + r * (n + 1), param["bound_left"].data()[r],
                           param["bound_right"].data()[r], param["slope_left"].data()[r],
                           param["slope_right"].data()[r], static_cast<int>(n)};
    };
    // Per channel: every breakpoint B_L + j·d (d as the kernels compute it), 0.6 of the way into each
    // segment, just outside both bounds, and ±1e30.
    std::vector<float> values;
    for (int64_t c = 0; c < C; ++c) {
      const pwlu::Channel p = channel(c);
      const float d = (p.right - p.left) / static_cast<float>(n);
      for (int64_t j = 0; j <= n; ++j) values.push_back(p.left + static_cast<float>(j) * d);
      for (int64_t j = 0; j < n; ++j) values.push_back(p.left + (static_cast<float>(j) + 0.6f) * d);
      for (float v : {p.left - 1.0f, p.right + 1.0f, -1e30f, 1e30f}) values.push_back(v);
    }
    const int64_t L = static_cast<int64_t>(values.size()) / C;
    Var in(Tensor::from_vector({1, C, 1, L}, values), true);
    const Var y = (*act)(in);
    backward(ops::sum(y));
    const std::vector<float> out = y.value().to_vector(), dx = in.grad().to_vector();
    for (int64_t i = 0; i < C * L; ++i) {
      const pwlu::Channel p = channel(i / L);
      const float x = values[i];
      const float want_y = pwlu::value(p, x), want_dx = pwlu::slopes(p, x).x;
      CHECK_MESSAGE(std::fabs(out[i] - want_y) <= 1e-5f * (1.0f + std::fabs(want_y)),
                    spec << " f(" << x << ") = " << out[i] << ", pwlu_math.h gives " << want_y);
      CHECK_MESSAGE(std::fabs(dx[i] - want_dx) <= 1e-5f * (1.0f + std::fabs(want_dx)),
                    spec << " f'(" << x << ") = " << dx[i] << ", pwlu_math.h gives " << want_dx);
    }
  }
}

TEST_CASE("the fixed functions' vectorised CPU kernels follow pointwise_math.h: kinks, thresholds, 0 and far out") {
  // The CPU kernels compute the transcendentals with SLEEF over chunks; pointwise_math.h (the CUDA
  // twins' formulas, checked against PyTorch's functions by the fixtures) calls the C library per value.
  struct Fixed {
    std::string spec;
    Pointwise f;
    float option;
  };
  const Fixed fixed[] = {
      {"relu6", Pointwise::relu6, 0.0f},         {"leaky-relu(slope=0.2)", Pointwise::leaky_relu, 0.2f},
      {"silu", Pointwise::silu, 0.0f},           {"gelu", Pointwise::gelu, 0.0f},
      {"elu(alpha=0.5)", Pointwise::elu, 0.5f},  {"selu", Pointwise::selu, 0.0f},
      {"softplus", Pointwise::softplus, 0.0f},   {"mish", Pointwise::mish, 0.0f},
      {"hard-swish", Pointwise::hard_swish, 0.0f}, {"max-sigmoid", Pointwise::max_sigmoid, 0.0f},
      {"cos-minus", Pointwise::cos_minus, 0.0f}, {"min-sin", Pointwise::min_sin, 0.0f},
      {"atan-sq-minus", Pointwise::atan_sq_minus, 0.0f}, {"max-tanh", Pointwise::max_tanh, 0.0f},
      {"sinc-plus", Pointwise::sinc_plus, 0.0f}, {"x-asinh-sq", Pointwise::x_asinh_sq, 0.0f}};
  // A fine grid over [−40, 40] (more than 32768 values, so the kernels split it among threads) and the
  // points where a formula changes: kinks, softplus's threshold at 20, sinc's series below 1e-3, 0, and
  // values whose exponentials overflow.
  std::vector<float> values;
  for (int i = 0; i < 40000; ++i) values.push_back(-40.0f + 80.0f * static_cast<float>(i) / 40000.0f);
  for (float v : {0.0f, -0.0f, 1e-4f, -1e-4f, 1e-3f, -1e-3f, 9.99e-4f, -3.0f, 3.0f, 6.0f, 19.999f, 20.0f, 20.001f,
                  0.0999f, 0.1f, -0.1001f, 0.6590460684f, 88.0f, -88.0f, 100.0f, -100.0f, 1e18f, 1e19f, 2e19f,
                  -1e20f, 1e30f, -1e30f})
    values.push_back(v);
  const int64_t n = static_cast<int64_t>(values.size());
  for (const Fixed& c : fixed) {
    Random rng(35);
    auto act = make_activation(c.spec, 1, rng);
    Var in(Tensor::from_vector({1, 1, 1, n}, values), true);
    const Var y = (*act)(in);
    backward(ops::sum(y));
    const std::vector<float> out = y.value().to_vector(), dx = in.grad().to_vector();
    int wrong = 0;
    for (int64_t i = 0; i < n && wrong < 5; ++i) {
      const float x = values[i];
      const float want_y = pointwise::value(c.f, x, c.option), want_dx = pointwise::slope(c.f, x, c.option);
      const bool y_ok = std::fabs(out[i] - want_y) <= 1e-5f * (1.0f + std::fabs(want_y));
      const bool dx_ok = std::fabs(dx[i] - want_dx) <= 1e-5f * (1.0f + std::fabs(want_dx));
      CHECK_MESSAGE(y_ok, c.spec << " f(" << x << ") = " << out[i] << ", pointwise_math.h gives " << want_y);
      CHECK_MESSAGE(dx_ok, c.spec << " f'(" << x << ") = " << dx[i] << ", pointwise_math.h gives " << want_dx);
      wrong += !y_ok + !dx_ok;
    }
  }
}

TEST_CASE("pwlu's phase follows the run's epochs in training, resume included") {
  const std::string dir = temp_dir("pwlu");
  const std::string tiny = "fashion-mnist:" + fixture("tiny-fmnist");
  Run r = run_actlab("train --model resnet20 --act 'pwlu(stat_epochs=1)' --data " + tiny +
                     " --epochs 1 --batch 16 --threads 2 --out " + dir + "/run");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  // One epoch never leaves phase I: the run says so once, not once per position.
  const std::string note = "note: pwlu(stat_epochs=1) stays in phase I for all 1 epoch(s)";
  CHECK_MESSAGE(r.err.find(note) != std::string::npos, r.err);
  CHECK(r.err.find(note) == r.err.rfind(note));
  const TensorFile one = read_safetensors(dir + "/run/model.safetensors");
  CHECK(one.tensor("act1.bound_left").to_vector() == std::vector<float>(16, -3.0f));   // phase I: frozen
  CHECK(one.tensor("act1.running_std").to_vector() != std::vector<float>(16, 1.0f));   // statistics kept
  Run resumed = run_actlab("train --epochs 2 --threads 2 --resume " + dir + "/run");
  REQUIRE_MESSAGE(resumed.status == 0, resumed.err);
  CHECK(resumed.err.find("phase I") == std::string::npos);   // the second epoch learns
  const TensorFile two = read_safetensors(dir + "/run/model.safetensors");
  CHECK(two.tensor("act1.bound_left").to_vector() != std::vector<float>(16, -3.0f));   // realigned, learning
  std::filesystem::remove_all(dir);
}

TEST_CASE("x-asinh-sq diverges from the standard initialisation and stops with the step named") {
  const std::string dir = temp_dir("xasinh");
  Run r = run_actlab("train --model resnet20 --act x-asinh-sq --data fashion-mnist:" + fixture("tiny-fmnist") +
                     " --epochs 1 --batch 16 --threads 2 --out " + dir + "/run");
  check_one_line_error(r, "non-finite");
  CHECK(r.err.find("at step") != std::string::npos);
  CHECK(r.err.find("no epoch had been saved yet") != std::string::npos);
  std::filesystem::remove_all(dir);
}
