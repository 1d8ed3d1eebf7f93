// CrashHook: the process SIGKILLs itself; the counter is shared by every endpoint and the runner.
#include "tools/crash_hook.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdlib>

#include "idem/error.h"

namespace idem::tools {

CrashHook CrashHook::fromEnvironment() {
  const char* spec = std::getenv("IDEM_CRASH_AT");
  if (spec == nullptr || *spec == '\0') return {};
  CrashHook hook = parse(spec);
  spdlog::warn("fault injection on: this process kills itself at IDEM_CRASH_AT={}", spec);
  return hook;
}

CrashHook CrashHook::parse(const std::string& spec) {
  CrashHook hook;
  std::string step = spec;
  if (const auto colon = step.find(':'); colon != std::string::npos) {
    const std::string count = step.substr(colon + 1);
    const auto [end, ec] =
        std::from_chars(count.data(), count.data() + count.size(), hook.occurrence_);
    if (ec != std::errc() || end != count.data() + count.size() || hook.occurrence_ == 0) {
      fail(ErrorKind::kPermanent,
           "IDEM_CRASH_AT wants a positive count after ':', not '" + count + "' in " + spec);
    }
    step.resize(colon);
  }
  if (const auto at = step.find('@'); at != std::string::npos) {
    hook.endpoint_ = step.substr(at + 1);
    step.resize(at);
  }
  for (FaultPoint p : {FaultPoint::kInHandler, FaultPoint::kBeforeCommit, FaultPoint::kAfterCommit,
                       FaultPoint::kAfterPublish, FaultPoint::kBeforeAck}) {
    if (step == toString(p)) hook.pipelineStep_ = p;
  }
  if (step == "after-put") hook.runnerMethod_ = "PUT";
  if (step == "after-post") hook.runnerMethod_ = "POST";
  if (step == "after-delete") hook.runnerMethod_ = "DELETE";
  if (!hook.pipelineStep_ && hook.runnerMethod_.empty()) {
    fail(ErrorKind::kPermanent,
         "IDEM_CRASH_AT names no pipeline step (in-handler, before-commit, after-commit, "
         "after-publish, before-ack) and no runner step (after-put, after-post, after-delete): " +
             spec);
  }
  if (!hook.runnerMethod_.empty() && !hook.endpoint_.empty()) {
    fail(ErrorKind::kPermanent,
         "IDEM_CRASH_AT: a runner step belongs to no endpoint, drop '@" + hook.endpoint_ + "'");
  }
  return hook;
}

std::function<void(FaultPoint)> CrashHook::forEndpoint(const std::string& name) const {
  if (!pipelineStep_ || (!endpoint_.empty() && endpoint_ != name)) return {};
  return [point = *pipelineStep_, occurrence = occurrence_, seen = seen_](FaultPoint p) {
    if (p == point && ++*seen == occurrence) ::raise(SIGKILL);
  };
}

std::function<void(std::string_view)> CrashHook::forCallRunner() const {
  if (runnerMethod_.empty()) return {};
  return [method = runnerMethod_, occurrence = occurrence_, seen = seen_](std::string_view m) {
    if (m == method && ++*seen == occurrence) ::raise(SIGKILL);
  };
}

}  // namespace idem::tools
