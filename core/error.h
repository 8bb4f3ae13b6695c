// One exception type for every user-facing failure: bad flags, files, shapes.
// The CLI catches it and prints its message as the single error line.
#pragma once
#include <stdexcept>
#include <string>

namespace actlab {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void fail(const std::string& message) { throw Error(message); }

inline void check(bool ok, const std::string& message) {
  if (!ok) fail(message);
}

}  // namespace actlab
