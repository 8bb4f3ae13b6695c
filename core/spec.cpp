// Spec-string parsing (see spec.h).
#include "core/spec.h"

#include <cmath>

#include <cctype>

#include "core/error.h"

namespace actlab {
namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

}  // namespace

Spec Spec::parse(const std::string& raw, const std::string& what) {
  Spec spec;
  spec.what_ = what;
  spec.text_ = trim(raw);
  const std::string& t = spec.text_;
  const size_t open = t.find('(');
  spec.name_ = trim(t.substr(0, open));
  if (spec.name_.empty()) fail(what + ": empty specification '" + raw + "'");
  for (char c : spec.name_)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
      fail(what + ": malformed specification '" + raw + "' (expected name or name(key=value,...))");
  if (open == std::string::npos) return spec;
  if (t.back() != ')') fail(what + ": '" + raw + "' is missing its closing ')'");
  const std::string body = t.substr(open + 1, t.size() - open - 2);
  size_t start = 0;
  while (start <= body.size()) {
    size_t comma = body.find(',', start);
    if (comma == std::string::npos) comma = body.size();
    const std::string item = trim(body.substr(start, comma - start));
    start = comma + 1;
    if (item.empty()) {
      if (comma == body.size() && spec.values_.empty()) break;
      fail(what + ": empty option in '" + raw + "'");
    }
    const size_t eq = item.find('=');
    if (eq == std::string::npos) fail(what + ": option '" + item + "' in '" + raw + "' needs key=value");
    const std::string key = trim(item.substr(0, eq)), value = trim(item.substr(eq + 1));
    if (key.empty() || value.empty()) fail(what + ": option '" + item + "' in '" + raw + "' needs key=value");
    if (spec.values_.count(key)) fail(what + ": option '" + key + "' given twice in '" + raw + "'");
    spec.values_[key] = value;
    if (comma == body.size()) break;
  }
  return spec;
}

void Spec::reject(const std::string& key, const std::string& why) const {
  fail(what_ + ": " + name_ + " option '" + key + "' " + why + " (in '" + text_ + "')");
}

float Spec::get_float(const std::string& key, float fallback) {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  used_[key] = true;
  try {
    size_t used = 0;
    float v = std::stof(it->second, &used);
    if (used == it->second.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {   // not a number, or beyond float's range
  }
  reject(key, "must be a finite number, got '" + it->second + "'");
}

int Spec::get_int(const std::string& key, int fallback) {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  used_[key] = true;
  try {
    size_t used = 0;
    int v = std::stoi(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  reject(key, "must be an integer, got '" + it->second + "'");
}

bool Spec::get_bool(const std::string& key, bool fallback) {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  used_[key] = true;
  if (it->second == "true" || it->second == "1") return true;
  if (it->second == "false" || it->second == "0") return false;
  reject(key, "must be true or false, got '" + it->second + "'");
}

std::string Spec::get_string(const std::string& key, const std::string& fallback) {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  used_[key] = true;
  return it->second;
}

void Spec::finish() const {
  for (const auto& [key, value] : values_)
    if (!used_.count(key)) fail(what_ + ": " + name_ + " has no option '" + key + "' (in '" + text_ + "')");
}

}  // namespace actlab
