// Runs the actlab binary as a user would and captures what it prints.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

namespace actlab::testing {

struct Run {
  int status;
  std::string out, err;
};

inline std::string temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("actlab-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// `env`: variables for this run alone, e.g. "ACTLAB_KILL_AT_WRITE=3". A
// process ended by a signal reports status 128 + the signal.
inline Run run_actlab(const std::string& args, const std::string& env = "") {
  const std::string dir = std::filesystem::temp_directory_path().string();
  const std::string out = dir + "/actlab-cli-out-" + std::to_string(::getpid());
  const std::string err = dir + "/actlab-cli-err-" + std::to_string(::getpid());
  const std::string command =
      (env.empty() ? "" : "env " + env + " ") + std::string(ACTLAB_BINARY) + " " + args + " >" + out + " 2>" + err + " </dev/null";
  const int raw = std::system(command.c_str());
  // sh reports a child killed by signal s as exit status 128 + s.
  Run r{WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + (WIFSIGNALED(raw) ? WTERMSIG(raw) : 0), slurp(out), slurp(err)};
  std::remove(out.c_str());
  std::remove(err.c_str());
  return r;
}

inline int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// A failure: non-zero exit, one "actlab: error:" line that mentions needle.
inline void check_one_line_error(const Run& r, const std::string& needle) {
  CHECK_MESSAGE(r.status != 0, "exit status 0 for bad input; stderr: " << r.err);
  CHECK_MESSAGE(r.err.find(needle) != std::string::npos, "error does not mention '" << needle << "': " << r.err);
  const size_t at = r.err.find("actlab: error:");
  CHECK_MESSAGE(at != std::string::npos, "no error line: " << r.err);
  if (at != std::string::npos) CHECK(count_lines(r.err.substr(at)) == 1);
}

}  // namespace actlab::testing
