// `actlab act plot` and `actlab act explain`: the teaching side of the
// activation zoo.
#pragma once
#include <string>
#include <vector>

namespace actlab {

struct ActPlotConfig {
  std::vector<std::string> specs;
  float lo = -5.0f, hi = 5.0f;
  int points = 401;
  std::string out = "act.svg", csv;   // csv: default out with .csv
  std::string checkpoint, at;          // loaded parameters: file and activation position
  int channel = 0;                     // which channel of a per-channel activation
};

struct ActExplainConfig {
  std::string spec;
  std::vector<float> input{-2.0f, -0.5f, 0.5f, 1.5f};
  int channels = 1;
};

// Draws f(x) and f′(x) of each activation (its default or loaded parameters)
// into an SVG picture and writes the same curves to a CSV file.
int run_act_plot(const ActPlotConfig& config);

// Runs a tiny input through the activation's version composed from tape
// primitives and prints the tape node by node with forward values and
// gradients, beside the fused kernels' results and a finite-difference check.
int run_act_explain(const ActExplainConfig& config);

}  // namespace actlab
