// The activation registry: one line per activation. Adding an activation is
// one file pair (name.h/.cpp, plus name.cu for CUDA) and one line here.
#include <functional>
#include <map>

#include "activations/activation.h"
#include "activations/relu.h"
#include "core/error.h"

namespace actlab {
namespace {

using Factory = std::function<std::shared_ptr<Activation>(Spec&, int64_t channels, Random&)>;

const std::map<std::string, Factory>& registry() {
  static const std::map<std::string, Factory> table{
      {"relu", [](Spec& s, int64_t, Random&) { return std::make_shared<Relu>(s); }},
  };
  return table;
}

}  // namespace

std::shared_ptr<Activation> make_activation(const std::string& text, int64_t channels, Random& rng) {
  Spec spec = Spec::parse(text, "--act");
  auto it = registry().find(spec.name());
  if (it == registry().end()) {
    std::string known;
    for (const auto& [name, f] : registry()) known += (known.empty() ? "" : ", ") + name;
    fail("--act: unknown activation '" + spec.name() + "' (known: " + known + ")");
  }
  return it->second(spec, channels, rng);
}

std::vector<std::string> activation_names() {
  std::vector<std::string> names;
  for (const auto& [name, f] : registry()) names.push_back(name);
  return names;
}

}  // namespace actlab
