// Reverse-mode autodiff on a tape. Every differentiable op creates a Node
// holding its result and a backward closure, and appends it to the tape;
// backward() walks the tape from the end, each closure adding its inputs'
// gradients. Leaves (parameters, inputs) are Nodes that are never recorded.
#pragma once
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace actlab {

struct Node {
  std::string op;        // "conv2d", "batch_norm", ... or "leaf"
  std::string detail;    // shown when the tape is printed, e.g. "3x3/2 pad 1"
  Tensor value;
  Tensor grad;           // undefined until a gradient arrives
  bool requires_grad = false;
  std::vector<std::shared_ptr<Node>> inputs;
  // Reads this node's grad and adds the inputs' gradients (add_grad).
  std::function<void(Node& self)> backward;

  // Adds g to grad. Gradient tensors are never modified in place once made,
  // so g may be shared with other nodes.
  void add_grad(Tensor g);
};

// A value in the graph: a handle to a Node.
class Var {
 public:
  Var() = default;
  explicit Var(Tensor value, bool requires_grad = false);  // a leaf
  explicit Var(std::shared_ptr<Node> node) : node_(std::move(node)) {}

  bool defined() const { return node_ != nullptr; }
  const Tensor& value() const { return node_->value; }
  Tensor& value() { return node_->value; }
  const Tensor& grad() const { return node_->grad; }
  void set_grad(Tensor g) { node_->grad = std::move(g); }
  bool requires_grad() const { return node_->requires_grad; }
  const Shape& shape() const { return node_->value.shape(); }
  int64_t size(int dim) const { return node_->value.size(dim); }
  Device device() const { return node_->value.device(); }
  const std::shared_ptr<Node>& node() const { return node_; }

 private:
  std::shared_ptr<Node> node_;
};

class Tape {
 public:
  bool enabled() const { return enabled_; }
  // Creates the node for an op's result. It is recorded (and requires grad)
  // only when recording is on and some input requires grad.
  Var record(std::string op, Tensor value, std::vector<Var> inputs, std::function<void(Node&)> backward,
             std::string detail = {});
  const std::vector<std::shared_ptr<Node>>& nodes() const { return nodes_; }
  void clear() { nodes_.clear(); }
  void print(std::ostream& out) const;   // one line per node: index, op, shape, inputs

 private:
  friend class NoGradScope;
  std::vector<std::shared_ptr<Node>> nodes_;
  bool enabled_ = true;
};

Tape& tape();  // this thread's tape

// Within this scope nothing is recorded (evaluation).
class NoGradScope {
 public:
  NoGradScope() : previous_(tape().enabled_) { tape().enabled_ = false; }
  ~NoGradScope() { tape().enabled_ = previous_; }
  NoGradScope(const NoGradScope&) = delete;
  NoGradScope& operator=(const NoGradScope&) = delete;

 private:
  bool previous_;
};

// Backpropagates from a one-element value; leaves' grads accumulate across
// calls. The tape is cleared afterwards unless keep_tape is set.
void backward(const Var& loss, bool keep_tape = false);
// The same from any output, seeded with dL/doutput (PyTorch's y.backward(dy)).
void backward(const Var& output, const Tensor& seed, bool keep_tape = false);

}  // namespace actlab
