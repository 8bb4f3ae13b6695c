// Module bookkeeping: registration, dotted-name traversal, summary tracing.
#include "layers/module.h"

#include "core/error.h"
#include "core/random.h"

namespace actlab {

namespace {
ModuleTrace* active_trace = nullptr;
}

std::string to_string(Role role) {
  switch (role) {
    case Role::weight: return "weight";
    case Role::bias: return "bias";
    case Role::bn: return "bn";
    case Role::act: return "act";
  }
  return "?";
}

ModuleTraceScope::ModuleTraceScope(ModuleTrace& trace) { active_trace = &trace; }
ModuleTraceScope::~ModuleTraceScope() { active_trace = nullptr; }

Var Module::operator()(const Var& x) {
  Var y = forward(x);
  if (active_trace) active_trace->entries.push_back({this, x.shape(), y.shape()});
  return y;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::reseed(uint64_t seed) {
  reseed_self(seed);
  uint64_t index = 0;
  for (auto& [name, child] : children_) child->reseed(mix_seed(seed, ++index));
}

Var Module::add_parameter(const std::string& name, Tensor value, Role role) {
  parameters_.emplace_back(name, Parameter{Var(std::move(value), true), role});
  return parameters_.back().second.var;
}

Tensor* Module::add_buffer(const std::string& name, Tensor value) {
  buffers_.emplace_back(name, std::make_unique<Tensor>(std::move(value)));
  return buffers_.back().second.get();
}

void Module::add_counter(const std::string& name, int64_t* counter) { counters_.emplace_back(name, counter); }

Parameter& Module::parameter(const std::string& name) {
  for (auto& [n, p] : parameters_)
    if (n == name) return p;
  fail(kind() + " has no parameter '" + name + "'");
}

void Module::for_each_module(const std::function<void(const std::string&, Module&)>& visit,
                             const std::string& prefix) {
  visit(prefix, *this);
  for (auto& [name, child] : children_) child->for_each_module(visit, prefix.empty() ? name : prefix + "." + name);
}

// State-dict order, as PyTorch: a module's own parameters, then its buffers,
// then each child in turn.
std::vector<std::pair<std::string, Parameter*>> Module::named_parameters() {
  std::vector<std::pair<std::string, Parameter*>> out;
  for_each_module([&](const std::string& prefix, Module& m) {
    for (auto& [name, p] : m.parameters_) out.emplace_back(prefix.empty() ? name : prefix + "." + name, &p);
  });
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_buffers() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for_each_module([&](const std::string& prefix, Module& m) {
    for (auto& [name, b] : m.buffers_) out.emplace_back(prefix.empty() ? name : prefix + "." + name, b.get());
  });
  return out;
}

std::vector<std::pair<std::string, int64_t*>> Module::named_counters() {
  std::vector<std::pair<std::string, int64_t*>> out;
  for_each_module([&](const std::string& prefix, Module& m) {
    for (auto& [name, c] : m.counters_) out.emplace_back(prefix.empty() ? name : prefix + "." + name, c);
  });
  return out;
}

void Module::to(Device device) {
  for (auto& [name, p] : named_parameters()) p->var.value() = p->var.value().to(device);
  for (auto& [name, b] : named_buffers()) *b = b->to(device);
}

Device Module::device() {
  const auto parameters = named_parameters();
  return parameters.empty() ? Device::cpu : parameters.front().second->var.device();
}

int64_t Module::parameter_count() {
  int64_t n = 0;
  for (auto& [name, p] : named_parameters()) n += p->var.value().numel();
  return n;
}

}  // namespace actlab
