// runShell: runs a command line through /bin/sh and collects what it prints, for the tests that
// drive the idem tool (and curl) as a user would.
#pragma once

#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

namespace idem::test {

struct ShellResult {
  int exitCode = -1;   // 128 + the signal when a signal ended it
  std::string output;  // its stdout; add " 2>&1" to the command for stderr too
};

inline ShellResult runShell(const std::string& command) {
  ShellResult r;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) r.output += buffer;
  const int status = ::pclose(pipe);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace idem::test
