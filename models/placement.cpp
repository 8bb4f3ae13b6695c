// Activation placement (see placement.h).
#include "models/placement.h"

#include <sstream>

#include "core/error.h"

namespace actlab {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) out.push_back(part);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

// `*` within one segment
bool segment_match(const char* g, const char* s) {
  if (*g == '\0') return *s == '\0';
  if (*g == '*') return segment_match(g + 1, s) || (*s != '\0' && segment_match(g, s + 1));
  return *s == *g && segment_match(g + 1, s + 1);
}

bool segments_match(const std::vector<std::string>& g, size_t gi, const std::vector<std::string>& s, size_t si) {
  if (gi == g.size()) return si == s.size();
  if (g[gi] == "**") {
    for (size_t k = si; k <= s.size(); ++k)
      if (segments_match(g, gi + 1, s, k)) return true;
    return false;
  }
  return si < s.size() && segment_match(g[gi].c_str(), s[si].c_str()) && segments_match(g, gi + 1, s, si + 1);
}

const std::vector<std::string> kPresets{"all", "3x3"};

}  // namespace

bool glob_match(const std::string& glob, const std::string& name) {
  return segments_match(split(glob, '.'), 0, split(name, '.'), 0);
}

ActivationPlan::ActivationPlan(std::string default_spec, std::vector<std::string> act_at)
    : default_spec_(std::move(default_spec)), act_at_(std::move(act_at)) {
  for (const std::string& item : act_at_) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      fail("--act-at: '" + item + "' must be GLOB=SPEC or preset:NAME=SPEC");
    Rule rule{item.substr(0, eq), item.substr(eq + 1)};
    if (rule.pattern.rfind("preset:", 0) == 0) {
      const std::string preset = rule.pattern.substr(7);
      bool known = false;
      for (const auto& p : kPresets) known |= p == preset;
      if (!known) fail("--act-at: unknown preset '" + preset + "' (known: all, 3x3)");
    }
    rules_.push_back(rule);
  }
}

std::shared_ptr<Activation> ActivationPlan::make(const std::string& position, int64_t channels, bool after_3x3,
                                                 Random& rng) {
  std::string spec = default_spec_;
  for (Rule& rule : rules_) {
    bool hit = false;
    if (rule.pattern == "preset:all") hit = true;
    else if (rule.pattern == "preset:3x3") hit = after_3x3;
    else hit = glob_match(rule.pattern, position);
    if (hit) {
      spec = rule.spec;
      rule.matched = true;
    }
  }
  positions_.push_back({position, spec, channels, after_3x3});
  return make_activation(spec, channels, rng);
}

void ActivationPlan::finish() const {
  for (const Rule& rule : rules_)
    if (!rule.matched)
      fail("--act-at: '" + rule.pattern + "' matches no activation position of this model "
           "(see `actlab summary` for the position names)");
}

}  // namespace actlab
