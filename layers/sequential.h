// Children applied in order, named "0", "1", ... as in nn.Sequential (or by
// the names given).
#pragma once
#include <vector>

#include "layers/module.h"

namespace actlab {

class Sequential : public Module {
 public:
  template <class M>
  std::shared_ptr<M> add(std::shared_ptr<M> module, std::string name = {}) {
    if (name.empty()) name = std::to_string(steps_.size());
    steps_.push_back(module);
    return add_module(name, std::move(module));
  }
  Var forward(const Var& x) override {
    Var y = x;
    for (auto& m : steps_) y = (*m)(y);
    return y;
  }
  std::string kind() const override { return "Sequential"; }
  size_t size() const { return steps_.size(); }

 private:
  std::vector<std::shared_ptr<Module>> steps_;
};

}  // namespace actlab
