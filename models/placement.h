// Which activation goes at which position (SPEC 2): `--act` for all, then
// `--act-at GLOB=SPEC` overrides in order (later wins). In a GLOB, `*`
// matches within one dotted segment and `**` any number of segments (zero
// included); `preset:3x3` names the positions right after a 3×3 convolution
// inside a residual block (SPEC 2.4).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "activations/activation.h"

namespace actlab {

struct ActivationPosition {
  std::string name;      // dotted, e.g. "layer2.0.act1"
  std::string spec;      // what was placed there
  int64_t channels;
  bool after_3x3;        // in the 3x3 preset
};

class ActivationPlan {
 public:
  ActivationPlan(std::string default_spec, std::vector<std::string> act_at);  // act_at: "GLOB=SPEC"
  // Builds the activation for a position as the model is built.
  std::shared_ptr<Activation> make(const std::string& position, int64_t channels, bool after_3x3, Random& rng);
  // After the model is built: every override must have matched something.
  void finish() const;
  const std::vector<ActivationPosition>& positions() const { return positions_; }
  const std::string& default_spec() const { return default_spec_; }
  const std::vector<std::string>& overrides() const { return act_at_; }

 private:
  struct Rule {
    std::string pattern;   // glob, or "preset:NAME"
    std::string spec;
    bool matched = false;
  };
  std::string default_spec_;
  std::vector<std::string> act_at_;
  std::vector<Rule> rules_;
  std::vector<ActivationPosition> positions_;
};

bool glob_match(const std::string& glob, const std::string& name);

}  // namespace actlab
