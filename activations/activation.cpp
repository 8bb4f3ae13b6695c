// The generic tape node around an activation's fused kernels.
#include "activations/activation.h"

namespace actlab {

std::vector<Var> Activation::operands(const Var&) {
  std::vector<Var> out;
  for (auto& [name, p] : own_parameters()) out.push_back(p.var);
  return out;
}

Var Activation::forward(const Var& x) {
  std::vector<Var> ops = operands(x);
  std::vector<Tensor> values;
  for (const Var& v : ops) values.push_back(v.value());
  Tensor y = Tensor::empty(x.shape(), x.device());
  forward_kernel(x.value(), values, y);

  std::vector<Var> inputs{x};
  inputs.insert(inputs.end(), ops.begin(), ops.end());
  const Saves keep = saves();
  Tensor saved_x = keep == Saves::output ? Tensor() : x.value();
  Tensor saved_y = keep == Saves::input ? Tensor() : y;
  return tape().record(
      spec(), y, inputs,
      [this, saved_x, saved_y, values](Node& self) {
        Tensor dx = Tensor::empty(self.grad.shape(), self.grad.device());
        std::vector<Tensor> dops(values.size());
        for (size_t i = 0; i < values.size(); ++i)
          if (self.inputs[i + 1] && self.inputs[i + 1]->requires_grad)
            dops[i] = Tensor::empty(values[i].shape(), values[i].device());
        backward_kernel(saved_x, saved_y, self.grad, values, dx, dops);
        if (self.inputs[0]->requires_grad) self.inputs[0]->add_grad(dx);
        for (size_t i = 0; i < values.size(); ++i)
          if (dops[i].defined()) self.inputs[i + 1]->add_grad(dops[i]);
      },
      "fused");
}

}  // namespace actlab
