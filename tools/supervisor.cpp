// Supervisor: fork, exec, waitpid.
#include "tools/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "idem/error.h"

extern char** environ;

namespace idem::tools {

std::filesystem::path currentExecutable() {
  return std::filesystem::read_symlink("/proc/self/exe");
}

Supervisor::Supervisor(std::filesystem::path logDirectory)
    : logDirectory_(std::move(logDirectory)) {
  std::filesystem::create_directories(logDirectory_);
}

Supervisor::~Supervisor() {
  for (auto& [name, child] : children_) {
    if (child.pid != 0) {
      ::kill(child.pid, SIGKILL);
      reap(child, true);
    }
  }
}

void Supervisor::start(const std::string& name, std::vector<std::string> argv,
                       std::vector<std::string> environment) {
  Child& child = children_[name];
  if (child.pid != 0 && running(name)) {
    fail(ErrorKind::kPermanent, "process " + name + " is already running");
  }
  child.argv = std::move(argv);
  child.environment = std::move(environment);
  child.status.reset();

  std::vector<char*> args;
  for (std::string& a : child.argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<std::string> envStrings;
  for (char** e = environ; *e != nullptr; ++e) envStrings.emplace_back(*e);
  for (const std::string& e : child.environment) envStrings.push_back(e);
  std::vector<char*> env;
  for (std::string& e : envStrings) env.push_back(e.data());
  env.push_back(nullptr);
  const std::string log = (logDirectory_ / (name + ".log")).string();

  // All signals stay blocked across fork, so none can run this process's handlers in the child;
  // the child resets every handler to its default before it unblocks them and execs.
  sigset_t all;
  sigset_t saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    struct sigaction defaults {};
    defaults.sa_handler = SIG_DFL;
    for (int signal = 1; signal < NSIG; ++signal) ::sigaction(signal, &defaults, nullptr);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    // A supervisor that dies (even by SIGKILL) takes its children down gracefully: they drain.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(0);  // it died before prctl took effect
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(args[0], args.data(), env.data());
    ::_exit(127);
  }
  const int forkErrno = errno;
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) fail(ErrorKind::kPermanent, "fork for " + name + ": " + std::strerror(forkErrno));
  child.pid = pid;
}

void Supervisor::restart(const std::string& name) {
  Child& child = children_.at(name);
  start(name, child.argv, child.environment);
}

void Supervisor::reap(Child& child, bool wait) {
  if (child.pid == 0) return;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(child.pid, &status, wait ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == child.pid) {
    child.status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    child.pid = 0;
  } else if (r < 0) {
    child.pid = 0;  // not our child any more (ECHILD)
  }
}

void Supervisor::kill(const std::string& name, int signal) {
  Child& child = children_.at(name);
  if (child.pid == 0) return;
  ::kill(child.pid, signal);
  if (signal == SIGKILL) reap(child, true);
}

bool Supervisor::running(const std::string& name) {
  auto it = children_.find(name);
  if (it == children_.end()) return false;
  reap(it->second, false);
  return it->second.pid != 0;
}

std::optional<int> Supervisor::exitStatus(const std::string& name) const {
  auto it = children_.find(name);
  return it == children_.end() ? std::nullopt : it->second.status;
}

std::vector<std::string> Supervisor::names() const {
  std::vector<std::string> out;
  for (const auto& [name, child] : children_) out.push_back(name);
  return out;
}

std::vector<std::string> Supervisor::stopAll(std::chrono::milliseconds grace) {
  for (auto& [name, child] : children_) {
    if (child.pid != 0) ::kill(child.pid, SIGTERM);
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  std::vector<std::string> killed;
  for (auto& [name, child] : children_) {
    while (child.pid != 0 && std::chrono::steady_clock::now() < deadline) {
      reap(child, false);
      if (child.pid != 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (child.pid != 0) {
      ::kill(child.pid, SIGKILL);
      reap(child, true);
      killed.push_back(name);
    }
  }
  return killed;
}

}  // namespace idem::tools
