// `actlab act plot` and `actlab act explain` (see act_tools.h).
#include "train/act_tools.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <unordered_map>

#include "activations/activation.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "train/safetensors.h"

namespace actlab {
namespace {

// Builds the activation with its default parameters (one channel), or with
// the parameters stored at position `at` of a checkpoint.
std::shared_ptr<Activation> build(const ActPlotConfig& c, const std::string& spec, int64_t& channels) {
  Random rng(0);
  channels = 1;
  if (c.checkpoint.empty()) return make_activation(spec, 1, rng);
  const TensorFile file = read_safetensors(c.checkpoint);
  const std::string prefix = c.at + ".";
  channels = -1;
  for (const auto& [name, t] : file.tensors) {
    if (name.rfind(prefix, 0) != 0 || t.dtype != "F32" || t.shape.empty()) continue;
    channels = t.shape.size() == 4 ? t.shape[1] : t.shape[0];   // [1,C,1,1], [C] or [C, n+1]
    break;
  }
  check(channels > 0, "--at: " + c.checkpoint + " holds no activation parameters under '" + c.at + "'");
  auto act = make_activation(spec, channels, rng);
  for (auto& [name, p] : act->named_parameters()) {
    check(file.find(prefix + name) != nullptr, "--at: " + c.checkpoint + " has no tensor " + prefix + name +
                                                   " (is '" + spec + "' the activation at " + c.at + "?)");
    p->var.value().copy_from(file.tensor(prefix + name));
  }
  for (auto& [name, b] : act->named_buffers())
    if (file.find(prefix + name)) b->copy_from(file.tensor(prefix + name));
  return act;
}

// f and f′ on the grid for one channel: each grid value is its own sample, so
// activations whose coefficients come from the input see that value alone.
void evaluate(Activation& act, int64_t channels, const std::vector<float>& grid, int channel, std::vector<float>& f,
              std::vector<float>& df) {
  const int64_t n = static_cast<int64_t>(grid.size());
  check(channel >= 0 && channel < channels, "--channel " + std::to_string(channel) + " is not one of the " +
                                                std::to_string(channels) + " channels");
  Tensor x = Tensor::empty({n, channels, 1, 1});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < channels; ++c) x.data()[i * channels + c] = grid[i];
  act.eval();
  Var input(x, true);
  Var y = act(input);
  backward(y, Tensor::full(y.shape(), 1.0f));
  f.resize(n);
  df.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    f[i] = y.value().data()[i * channels + channel];
    df[i] = input.grad().data()[i * channels + channel];
  }
}

// Tick marks at 1, 2 or 5 × 10^k, at most about 8 of them.
std::vector<double> ticks(double lo, double hi) {
  const double raw = (hi - lo) / 6.0;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) {
      step = m * power;
      break;
    }
  std::vector<double> out;
  for (double t = std::ceil(lo / step) * step; t <= hi + 1e-9 * step; t += step) out.push_back(std::fabs(t) < 1e-12 ? 0.0 : t);
  return out;
}

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '<') out += "&lt;";
    else if (ch == '>') out += "&gt;";
    else if (ch == '&') out += "&amp;";
    else out += ch;
  }
  return out;
}

// One panel: axes, grid, tick labels and a polyline per curve.
void panel(std::ostringstream& svg, double left, double top, double width, double height, const std::string& title,
           const std::vector<float>& grid, const std::vector<std::vector<float>>& curves,
           const std::vector<std::string>& colors) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& curve : curves)
    for (float v : curve)
      if (std::isfinite(v)) lo = std::min<double>(lo, v), hi = std::max<double>(hi, v);
  if (!(hi > lo)) lo -= 1.0, hi += 1.0;
  const double pad = 0.05 * (hi - lo);
  lo -= pad, hi += pad;
  const double x0 = grid.front(), x1 = grid.back();
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * width; };
  auto py = [&](double y) { return top + (hi - y) / (hi - lo) * height; };
  svg << "<rect x='" << left << "' y='" << top << "' width='" << width << "' height='" << height
      << "' fill='white' stroke='#888'/>\n";
  for (double t : ticks(x0, x1))
    svg << "<line x1='" << px(t) << "' y1='" << top << "' x2='" << px(t) << "' y2='" << top + height
        << "' stroke='" << (t == 0.0 ? "#444" : "#ddd") << "'/><text x='" << px(t) << "' y='" << top + height + 14
        << "' font-size='11' text-anchor='middle'>" << number(t) << "</text>\n";
  for (double t : ticks(lo, hi))
    svg << "<line x1='" << left << "' y1='" << py(t) << "' x2='" << left + width << "' y2='" << py(t)
        << "' stroke='" << (t == 0.0 ? "#444" : "#ddd") << "'/><text x='" << left - 4 << "' y='" << py(t) + 4
        << "' font-size='11' text-anchor='end'>" << number(t) << "</text>\n";
  svg << "<text x='" << left + width / 2 << "' y='" << top - 8 << "' font-size='14' text-anchor='middle'>" << title
      << "</text>\n";
  for (size_t k = 0; k < curves.size(); ++k) {
    svg << "<polyline fill='none' stroke-width='2' stroke='" << colors[k % colors.size()] << "' points='";
    for (size_t i = 0; i < grid.size(); ++i)
      if (std::isfinite(curves[k][i])) svg << px(grid[i]) << ',' << std::clamp(py(curves[k][i]), top, top + height) << ' ';
    svg << "'/>\n";
  }
}

std::string values(const Tensor& t, int limit = 12) {
  const std::vector<float> v = t.to_vector();
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < v.size() && i < static_cast<size_t>(limit); ++i) {
    char text[24];
    std::snprintf(text, sizeof text, "%s%.5g", i ? ", " : "", v[i]);
    out << text;
  }
  if (v.size() > static_cast<size_t>(limit)) out << ", …";
  out << ']';
  return out.str();
}

double max_difference(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(double(x[i]) - y[i]));
  return worst;
}

}  // namespace

int run_act_plot(const ActPlotConfig& c) {
  check(!c.specs.empty(), "act plot: name at least one activation");
  check(c.hi > c.lo, "--range: the upper end must exceed the lower");
  check(c.points >= 2, "--points must be at least 2");
  const std::string ext = std::filesystem::path(c.out).extension().string();
  check(ext == ".svg", "--out: " + c.out + " must end in .svg (the picture is drawn as SVG)");
  std::vector<float> grid(c.points);
  for (int i = 0; i < c.points; ++i) grid[i] = c.lo + (c.hi - c.lo) * static_cast<float>(i) / (c.points - 1);
  std::vector<std::vector<float>> f(c.specs.size()), df(c.specs.size());
  for (size_t k = 0; k < c.specs.size(); ++k) {
    int64_t channels = 1;
    auto act = build(c, c.specs[k], channels);
    evaluate(*act, channels, grid, c.channel, f[k], df[k]);
  }

  const std::string csv_path = c.csv.empty() ? std::filesystem::path(c.out).replace_extension(".csv").string() : c.csv;
  std::ostringstream csv;
  csv << "x";
  for (const auto& s : c.specs) csv << ",\"f:" << s << "\",\"df:" << s << '"';
  csv << '\n';
  for (int i = 0; i < c.points; ++i) {
    csv << grid[i];
    for (size_t k = 0; k < c.specs.size(); ++k) csv << ',' << f[k][i] << ',' << df[k][i];
    csv << '\n';
  }

  const std::vector<std::string> colors{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                                        "#17becf"};
  const double width = 960, legend = 22.0 * static_cast<double>(c.specs.size()), height = 420 + legend;
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
      << "' font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n";
  panel(svg, 60, 40, 400, 320, "f(x)", grid, f, colors);
  panel(svg, 540, 40, 400, 320, "f′(x)", grid, df, colors);
  for (size_t k = 0; k < c.specs.size(); ++k) {
    const double y = 400 + 22.0 * static_cast<double>(k);
    svg << "<line x1='60' y1='" << y << "' x2='90' y2='" << y << "' stroke-width='3' stroke='"
        << colors[k % colors.size()] << "'/><text x='98' y='" << y + 4 << "' font-size='13'>" << escape(c.specs[k])
        << (c.checkpoint.empty() ? " (default parameters)" : " (" + escape(c.at) + ", channel " +
                                                                   std::to_string(c.channel) + ")")
        << "</text>\n";
  }
  svg << "</svg>\n";
  write_file_atomic(c.out, svg.str());
  write_file_atomic(csv_path, csv.str());
  std::fprintf(stderr, "wrote %s and %s (%d points on [%g, %g])\n", c.out.c_str(), csv_path.c_str(), c.points, c.lo,
               c.hi);
  return 0;
}

int run_act_explain(const ActExplainConfig& c) {
  const int64_t n = static_cast<int64_t>(c.input.size());
  check(c.channels >= 1 && n % c.channels == 0, "--input: " + std::to_string(n) + " values do not split into " +
                                                    std::to_string(c.channels) + " channels");
  Random rng(0);
  auto act = make_activation(c.spec, c.channels, rng);
  act->eval();
  Tensor x = Tensor::from_vector({1, c.channels, 1, n / c.channels}, c.input);
  std::printf("activation %s at a position with %d channel(s); input x %s = %s\n", c.spec.c_str(), c.channels,
              to_string(x.shape()).c_str(), values(x).c_str());
  std::unordered_map<const Node*, std::string> names;
  for (auto& [name, p] : act->named_parameters()) {
    std::printf("parameter %-12s %s = %s\n", name.c_str(), to_string(p->var.shape()).c_str(),
                values(p->var.value()).c_str());
    names[p->var.node().get()] = name;
  }
  std::printf("loss L = sum of y, so dL/dy = 1 everywhere\n\n");

  // 1. The composed version, node by node.
  for (auto& [name, p] : act->named_parameters()) p->var.set_grad(Tensor());
  tape().clear();
  Var xc(x.clone(), true);
  names[xc.node().get()] = "x";
  Var yc = act->composed(xc);
  backward(ops::sum(yc), true);
  std::printf("composed from tape primitives (forward top to bottom; the backward runs bottom to top):\n");
  const auto& nodes = tape().nodes();
  std::unordered_map<const Node*, size_t> index;
  for (size_t i = 0; i < nodes.size(); ++i) index[nodes[i].get()] = i;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& node = *nodes[i];
    std::string from;
    for (const auto& in : node.inputs) {
      if (!in) continue;
      auto it = index.find(in.get());
      auto named = names.find(in.get());
      std::string label;
      if (it != index.end()) label.append("#").append(std::to_string(it->second));
      else if (named != names.end()) label = named->second;
      else label = "const " + values(in->value, 3);
      if (!from.empty()) from += ", ";
      from += label;
    }
    std::printf("  #%zu %-10s (%s) -> %s\n      value %s\n      dL/d#%zu %s\n", i, node.op.c_str(), from.c_str(),
                to_string(node.value.shape()).c_str(), values(node.value).c_str(), i,
                node.grad.defined() ? values(node.grad).c_str() : "(none)");
  }
  tape().clear();
  std::vector<Tensor> composed_grads;
  std::printf("  dL/dx %s\n", values(xc.grad()).c_str());
  for (auto& [name, p] : act->named_parameters()) {
    composed_grads.push_back(p->var.grad().clone());
    std::printf("  dL/d%s %s   (the sum of the contributions of every node that reads %s)\n", name.c_str(),
                values(p->var.grad()).c_str(), name.c_str());
  }

  // 2. The fused kernels: one forward pass, one backward pass.
  for (auto& [name, p] : act->named_parameters()) p->var.set_grad(Tensor());
  Var xf(x.clone(), true);
  Var yf = (*act)(xf);
  backward(yf, Tensor::full(yf.shape(), 1.0f));
  std::printf("\nfused kernels (one node on the tape):\n  y %s   (largest difference from composed %.3g)\n",
              values(yf.value()).c_str(), max_difference(yf.value(), yc.value()));
  std::printf("  dL/dx %s   (largest difference %.3g)\n", values(xf.grad()).c_str(), max_difference(xf.grad(), xc.grad()));
  size_t k = 0;
  for (auto& [name, p] : act->named_parameters())
    std::printf("  dL/d%s %s   (largest difference %.3g)\n", name.c_str(), values(p->var.grad()).c_str(),
                max_difference(p->var.grad(), composed_grads[k++]));

  // 3. Central differences of L through the fused forward.
  const double eps = 1e-3;
  auto loss = [&](const Tensor& in) {
    NoGradScope no_grad;
    const std::vector<float> y = (*act)(Var(in)).value().to_vector();
    double s = 0.0;
    for (float v : y) s += v;
    return s;
  };
  auto differences = [&](Tensor& t, const Tensor& input) {
    Tensor out = Tensor::empty(t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float saved = t.data()[i];
      t.data()[i] = saved + static_cast<float>(eps);
      const double plus = loss(input);
      t.data()[i] = saved - static_cast<float>(eps);
      const double minus = loss(input);
      t.data()[i] = saved;
      out.data()[i] = static_cast<float>((plus - minus) / (2 * eps));
    }
    return out;
  };
  Tensor probe = x.clone();
  const Tensor dx = differences(probe, probe);
  std::printf("\nfinite differences (central, eps %g):\n  dL/dx %s   (largest difference from fused %.3g)\n", eps,
              values(dx).c_str(), max_difference(dx, xf.grad()));
  for (auto& [name, p] : act->named_parameters()) {
    const Tensor d = differences(p->var.value(), x);
    std::printf("  dL/d%s %s   (largest difference %.3g)\n", name.c_str(), values(d).c_str(),
                max_difference(d, p->var.grad()));
  }
  return 0;
}

}  // namespace actlab
