// Modules: named parameters, buffers and children, addressed by dotted names
// exactly as in a PyTorch state_dict ("layer1.0.bn1.running_mean").
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/tape.h"

namespace actlab {

// What a parameter is, for weight decay and reporting (SPEC 5).
enum class Role { weight, bias, bn, act };
std::string to_string(Role role);

struct Parameter {
  Var var;  // a leaf that requires grad
  Role role;
};

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Runs forward and, during a summary, records this module's output.
  Var operator()(const Var& x);
  virtual Var forward(const Var& x) = 0;
  virtual std::string kind() const = 0;                    // "Conv2d", "BatchNorm2d", ...
  virtual std::string describe() const { return kind(); }  // e.g. "Conv2d(16, 32, 3x3, stride 2)"
  // Multiply-adds of one forward pass from input to output shape (batch included).
  virtual int64_t macs(const Shape& /*in*/, const Shape& /*out*/) const { return 0; }

  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }
  // Stochastic layers (dropout) draw from a stream the trainer reseeds before
  // every step (from the run seed and the step), so that a run, and a resumed
  // run, is the same bit for bit. Each child gets its own derived seed.
  void reseed(uint64_t seed);

  // Recursive views, names dotted from this module down.
  std::vector<std::pair<std::string, Parameter*>> named_parameters();
  std::vector<std::pair<std::string, Tensor*>> named_buffers();
  std::vector<std::pair<std::string, int64_t*>> named_counters();   // I64 buffers (num_batches_tracked)
  void for_each_module(const std::function<void(const std::string& name, Module&)>& visit,
                       const std::string& prefix = "");
  int64_t parameter_count();

  // Moves every parameter and buffer (recursively) to `device`, keeping their
  // handles: layers and optimizers see the moved tensors.
  void to(Device device);
  Device device();   // where the parameters live (cpu when there are none)
  bool has_children() const { return !children_.empty(); }

  // Parameters of this module alone (not children).
  const std::vector<std::pair<std::string, Parameter>>& own_parameters() const { return parameters_; }
  Parameter& parameter(const std::string& name);

 protected:
  virtual void reseed_self(uint64_t /*seed*/) {}
  Var add_parameter(const std::string& name, Tensor value, Role role);  // returns a handle to it
  Tensor* add_buffer(const std::string& name, Tensor value);              // stable address
  void add_counter(const std::string& name, int64_t* counter);
  template <class M>
  std::shared_ptr<M> add_module(const std::string& name, std::shared_ptr<M> module) {
    children_.emplace_back(name, module);
    return module;
  }

 private:
  bool training_ = true;
  // Registration order is the state_dict order.
  std::vector<std::pair<std::string, Parameter>> parameters_;
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> buffers_;
  std::vector<std::pair<std::string, int64_t*>> counters_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// Records every module's output shape during one forward pass (for summary).
struct ModuleTrace {
  struct Entry {
    const Module* module;
    Shape in, out;
  };
  std::vector<Entry> entries;
};
// While a ModuleTraceScope lives, Module::operator() appends to the trace.
class ModuleTraceScope {
 public:
  explicit ModuleTraceScope(ModuleTrace& trace);
  ~ModuleTraceScope();
};

}  // namespace actlab
