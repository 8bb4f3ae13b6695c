// The activation registry: one line per activation. Adding an activation is
// one file pair (name.h/.cpp, plus name.cu for CUDA) and one line here.
#include <functional>
#include <map>

#include "activations/acon.h"
#include "activations/activation.h"
#include "activations/dyrelu.h"
#include "activations/meta_acon.h"
#include "activations/pointwise.h"
#include "activations/prelu.h"
#include "activations/pwlu.h"
#include "activations/relu.h"
#include "core/error.h"

namespace actlab {
namespace {

using Factory = std::function<std::shared_ptr<Activation>(Spec&, int64_t channels, Random&)>;

Factory fixed(Pointwise f) {
  return [f](Spec& s, int64_t, Random&) { return std::make_shared<PointwiseActivation>(s, f); };
}

Factory acon(AconKind kind) {
  return [kind](Spec& s, int64_t c, Random& rng) { return std::make_shared<Acon>(s, kind, c, rng); };
}

Factory dyrelu(DyReluKind kind) {
  return [kind](Spec& s, int64_t c, Random& rng) { return std::make_shared<DyRelu>(s, kind, c, rng); };
}

const std::map<std::string, Factory>& registry() {
  static const std::map<std::string, Factory> table{
      {"relu", [](Spec& s, int64_t, Random&) { return std::make_shared<Relu>(s); }},
      {"relu6", fixed(Pointwise::relu6)},
      {"leaky-relu", fixed(Pointwise::leaky_relu)},
      {"silu", fixed(Pointwise::silu)},
      {"gelu", fixed(Pointwise::gelu)},
      {"elu", fixed(Pointwise::elu)},
      {"selu", fixed(Pointwise::selu)},
      {"softplus", fixed(Pointwise::softplus)},
      {"mish", fixed(Pointwise::mish)},
      {"hard-swish", fixed(Pointwise::hard_swish)},
      {"max-sigmoid", fixed(Pointwise::max_sigmoid)},
      {"cos-minus", fixed(Pointwise::cos_minus)},
      {"min-sin", fixed(Pointwise::min_sin)},
      {"atan-sq-minus", fixed(Pointwise::atan_sq_minus)},
      {"max-tanh", fixed(Pointwise::max_tanh)},
      {"sinc-plus", fixed(Pointwise::sinc_plus)},
      {"x-asinh-sq", fixed(Pointwise::x_asinh_sq)},
      {"prelu", [](Spec& s, int64_t c, Random&) { return std::make_shared<Prelu>(s, c); }},
      {"swish", acon(AconKind::swish)},
      {"acon-a", acon(AconKind::acon_a)},
      {"acon-b", acon(AconKind::acon_b)},
      {"acon-c", acon(AconKind::acon_c)},
      {"meta-acon", [](Spec& s, int64_t c, Random& rng) { return std::make_shared<MetaAcon>(s, c, rng); }},
      {"dyrelu-a", dyrelu(DyReluKind::a)},
      {"dyrelu-b", dyrelu(DyReluKind::b)},
      {"dyrelu-c", dyrelu(DyReluKind::c)},
      {"pwlu", [](Spec& s, int64_t c, Random&) { return std::make_shared<Pwlu>(s, c); }},
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
