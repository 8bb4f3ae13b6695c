// Spec strings: `name` or `name(key=value,...)`, used for activations
// (SPEC 1) and models (SPEC 6). Every key must be consumed: an unknown key is
// an error naming it.
#pragma once
#include <map>
#include <string>

namespace actlab {

class Spec {
 public:
  static Spec parse(const std::string& text, const std::string& what);  // what: "--act", "--model"
  const std::string& name() const { return name_; }
  const std::string& text() const { return text_; }

  float get_float(const std::string& key, float fallback);
  int get_int(const std::string& key, int fallback);
  bool get_bool(const std::string& key, bool fallback);
  std::string get_string(const std::string& key, const std::string& fallback);
  // Throws if a key was given that no get_* asked for.
  void finish() const;
  [[noreturn]] void reject(const std::string& key, const std::string& why) const;

 private:
  std::string what_, text_, name_;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> used_;
};

}  // namespace actlab
