// Supervisor: named child processes started with fork+exec, killed (SIGKILL or SIGTERM) and
// restarted on demand, each with its output appended to a log file. Used by the demos and the
// crash tests to run endpoints as real processes. Children get SIGTERM when the thread that
// started them dies (PR_SET_PDEATHSIG), so a supervisor killed with -9 leaves no orphans.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace idem::tools {

class Supervisor {
 public:
  // Children's stdout and stderr go to `logDirectory`/<name>.log (appended).
  explicit Supervisor(std::filesystem::path logDirectory);
  // Kills (SIGKILL) and reaps every child still running.
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Starts `argv` (argv[0] is the executable's path) as child `name`, with `environment` entries
  // ("KEY=value") added to this process's environment, every signal at its default and none
  // blocked. Throws idem::Error (permanent) when it cannot be started or `name` is running.
  void start(const std::string& name, std::vector<std::string> argv,
             std::vector<std::string> environment = {});
  // Starts `name` again with the argv and environment it was last started with.
  void restart(const std::string& name);
  // Sends `signal` to `name` and, for SIGKILL, waits until it is reaped.
  void kill(const std::string& name, int signal);
  // True while `name` runs; reaps it (without waiting) when it has exited.
  bool running(const std::string& name);
  // The exit code (or 128 + signal) of `name`'s last run, once reaped.
  std::optional<int> exitStatus(const std::string& name) const;
  std::vector<std::string> names() const;
  // SIGTERM to every running child, then waits up to `grace` for each to exit, then SIGKILL.
  // Returns the names of children that had to be killed.
  std::vector<std::string> stopAll(std::chrono::milliseconds grace);

 private:
  struct Child {
    std::vector<std::string> argv;
    std::vector<std::string> environment;
    pid_t pid = 0;  // 0: not running
    std::optional<int> status;
  };
  void reap(Child& child, bool wait);

  std::filesystem::path logDirectory_;
  std::map<std::string, Child> children_;
};

// The path of the running executable (/proc/self/exe).
std::filesystem::path currentExecutable();

}  // namespace idem::tools
