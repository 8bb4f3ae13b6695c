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

// `*` within one segment: the greedy matcher that, on a mismatch, lets the
// last `*` take one more character. O(|g|·|s|) at worst; the recursive
// version backtracked exponentially (80 stars in a segment hung).
bool segment_match(const std::string& g, const std::string& s) {
  size_t gi = 0, si = 0, star = std::string::npos, resume = 0;
  while (si < s.size()) {
    if (gi < g.size() && g[gi] == '*') {
      star = gi++;
      resume = si;
    } else if (gi < g.size() && g[gi] == s[si]) {
      ++gi, ++si;
    } else if (star != std::string::npos) {
      gi = star + 1;
      si = ++resume;
    } else {
      return false;
    }
  }
  while (gi < g.size() && g[gi] == '*') ++gi;
  return gi == g.size();
}

// Segments, where `**` spans any number of them (none included): matched[gi][si]
// says whether g[gi..] matches s[si..], filled from the ends, so any number of
// `**` costs O(|g|·|s|) segment matches.
bool segments_match(const std::vector<std::string>& g, const std::vector<std::string>& s) {
  const size_t G = g.size(), S = s.size();
  std::vector<std::vector<char>> matched(G + 1, std::vector<char>(S + 1, 0));
  matched[G][S] = 1;
  for (size_t gi = G; gi-- > 0;)
    for (size_t si = S + 1; si-- > 0;)
      matched[gi][si] = g[gi] == "**" ? matched[gi + 1][si] || (si < S && matched[gi][si + 1])
                                      : si < S && matched[gi + 1][si + 1] && segment_match(g[gi], s[si]);
  return matched[0][0];
}

const std::vector<std::string> kPresets{"all", "3x3"};

}  // namespace

bool glob_match(const std::string& glob, const std::string& name) {
  return segments_match(split(glob, '.'), split(name, '.'));
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
