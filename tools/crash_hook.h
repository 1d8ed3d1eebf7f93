// The crash hook of the process tests. IDEM_CRASH_AT=<step>[@<endpoint>][:<n>] in the environment
// makes the process SIGKILL itself the n-th time (default 1) it reaches <step>:
//   - a pipeline step (in-handler, before-commit, after-commit, after-publish, before-ack) of any
//     endpoint it serves, or only of <endpoint> when one is named;
//   - a step of the calls endpoint's runner (after-put, after-post, after-delete): the service's
//     final answer to that exchange received, the answer not yet recorded by the calls endpoint.
// It logs a warning when set. Unset or empty: no hook.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "idem/endpoint.h"

namespace idem::tools {

class CrashHook {
 public:
  // Parses IDEM_CRASH_AT. Throws idem::Error (permanent) naming a step it does not know.
  static CrashHook fromEnvironment();
  // Parses a spec as above (the variable's value).
  static CrashHook parse(const std::string& spec);

  // For EndpointOptions::faultHook of endpoint `name`: empty when the hook is not for it.
  std::function<void(FaultPoint)> forEndpoint(const std::string& name) const;
  // For CallRunnerOptions::afterExchange: empty when the hook is not a runner step.
  std::function<void(std::string_view method)> forCallRunner() const;

 private:
  std::optional<FaultPoint> pipelineStep_;
  std::string runnerMethod_;  // PUT, POST or DELETE
  std::string endpoint_;      // empty: any endpoint
  unsigned occurrence_ = 1;
  std::shared_ptr<std::atomic<unsigned>> seen_ = std::make_shared<std::atomic<unsigned>>(0);
};

}  // namespace idem::tools
