// libFuzzer target: the --act-at glob matcher and rule parser. The input is
// "GLOB=SPEC" rules and position names, one per line; the first line that
// holds no '=' starts the names.
#include "core/error.h"
#include "fuzz_input.h"
#include "models/placement.h"

#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  std::vector<std::string> rules, names;
  for (std::string line; std::getline(in, line);) (names.empty() && line.find('=') != std::string::npos ? rules : names).push_back(line);
  for (const std::string& rule : rules)
    for (const std::string& name : names) (void)actlab::glob_match(rule.substr(0, rule.find('=')), name);
  try {
    actlab::ActivationPlan plan("relu", rules);
    actlab::Random rng(1);
    for (const std::string& name : names) (void)plan.make(name, 4, name.size() % 2 == 0, rng);
    plan.finish();
  } catch (const actlab::Error&) {
  }
  return 0;
}
