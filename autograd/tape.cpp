// The tape and reverse pass (see tape.h).
#include "autograd/tape.h"

#include <ostream>
#include <unordered_map>

#include "core/error.h"
#include "core/kernels.h"

namespace actlab {

void Node::add_grad(Tensor g) {
  if (!grad.defined()) {
    grad = std::move(g);
    return;
  }
  // A gradient tensor may be shared (add passes dy to both of its inputs), so
  // a shared one is never modified; one this node alone holds is summed into
  // in place, sparing a tensor-sized allocation and a pass.
  if (grad.unique() && same_shape(grad, g)) {
    kernels(grad.device()).binary_forward(BinaryOp::add, grad, g, grad);
    return;
  }
  Tensor sum = Tensor::empty(grad.shape(), grad.device());
  kernels(grad.device()).binary_forward(BinaryOp::add, grad, g, sum);
  grad = std::move(sum);
}

Var::Var(Tensor value, bool requires_grad) : node_(std::make_shared<Node>()) {
  node_->op = "leaf";
  node_->value = std::move(value);
  node_->requires_grad = requires_grad;
}

Tape& tape() {
  thread_local Tape t;
  return t;
}

Var Tape::record(std::string op, Tensor value, std::vector<Var> inputs, std::function<void(Node&)> backward,
                 std::string detail) {
  auto node = std::make_shared<Node>();
  node->op = std::move(op);
  node->detail = std::move(detail);
  node->value = std::move(value);
  bool needs = false;
  for (const Var& v : inputs) needs |= v.defined() && v.requires_grad();
  if (enabled_ && needs) {
    node->requires_grad = true;
    for (Var& v : inputs) node->inputs.push_back(v.node());
    node->backward = std::move(backward);
    nodes_.push_back(node);
  }
  return Var(node);
}

void Tape::print(std::ostream& out) const {
  std::unordered_map<const Node*, size_t> index;
  for (size_t i = 0; i < nodes_.size(); ++i) index[nodes_[i].get()] = i;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = *nodes_[i];
    out << '#' << i << ' ' << n.op;
    if (!n.detail.empty()) out << " (" << n.detail << ')';
    out << " -> " << to_string(n.value.shape()) << "  <-";
    for (const auto& in : n.inputs) {
      if (!in) continue;
      auto it = index.find(in.get());
      if (it != index.end()) out << " #" << it->second;
      else out << ' ' << (in->requires_grad ? "param" : "const") << to_string(in->value.shape());
    }
    out << '\n';
  }
}

void backward(const Var& loss, bool keep_tape) {
  check(loss.defined() && loss.value().numel() == 1,
        "backward: the loss must be a single value, got shape " +
            (loss.defined() ? to_string(loss.shape()) : std::string("(undefined)")));
  backward(loss, Tensor::full(loss.shape(), 1.0f, loss.device()), keep_tape);
}

void backward(const Var& output, const Tensor& seed, bool keep_tape) {
  check(output.defined() && seed.shape() == output.shape(),
        "backward: the seed gradient's shape " + to_string(seed.shape()) + " differs from the output's " +
            (output.defined() ? to_string(output.shape()) : std::string("(undefined)")));
  Tape& t = tape();
  if (!output.requires_grad()) {
    if (!keep_tape) t.clear();
    return;
  }
  output.node()->add_grad(seed);
  const auto& nodes = t.nodes();
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    Node& n = **it;
    if (n.grad.defined() && n.backward) n.backward(n);
    if (!keep_tape) {
      // Done with this node: free its gradient and whatever its closure saved.
      n.grad = Tensor();
      n.backward = nullptr;
    }
  }
  if (!keep_tape) {
    t.clear();  // leaves keep their grads; intermediates are gone
  }
}

}  // namespace actlab
