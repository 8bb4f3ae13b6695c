// Pooling layers and the global-average-pool head (output [N, C]).
#pragma once
#include "layers/module.h"

namespace actlab {

class MaxPool2d : public Module {
 public:
  MaxPool2d(int kernel, int stride, int pad) : kernel_(kernel), stride_(stride), pad_(pad) {}
  Var forward(const Var& x) override;
  std::string kind() const override { return "MaxPool2d"; }

 private:
  int kernel_, stride_, pad_;
};

class AvgPool2d : public Module {
 public:
  AvgPool2d(int kernel, int stride, int pad) : kernel_(kernel), stride_(stride), pad_(pad) {}
  Var forward(const Var& x) override;
  std::string kind() const override { return "AvgPool2d"; }

 private:
  int kernel_, stride_, pad_;
};

// Mean over H and W, flattened to [N, C] for a Linear head.
class GlobalAvgPool : public Module {
 public:
  Var forward(const Var& x) override;
  std::string kind() const override { return "GlobalAvgPool"; }
};

}  // namespace actlab
