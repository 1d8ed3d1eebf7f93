// serve(): one process serving endpoints of an app over the embedded bus until SIGTERM or
// SIGINT, then draining. Behind `idem run`, and behind the test endpoint processes of the crash
// tests. IDEM_CRASH_AT=<step>[:<n>] in the environment makes the process SIGKILL itself the n-th
// time (default 1) any of its endpoints reaches pipeline step <step> (in-handler, before-commit,
// after-commit, after-publish, before-ack).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "tools/apps.h"

namespace idem::tools {

struct ServeOptions {
  std::vector<std::string> endpoints;
  std::string dir;  // the workspace (tools/workspace.h)
  std::size_t batchSize = 256;
  unsigned leaseMs = 30'000;
  bool noFsync = false;
};

// Returns the process exit code (0 after a drained stop). Throws idem::Error when the bus or a
// store cannot be opened.
int serve(const App& app, const ServeOptions& options);

}  // namespace idem::tools
