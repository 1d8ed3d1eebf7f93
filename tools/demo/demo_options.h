// DemoOptions: what one `idem demo` run does. The workload's parameters are kept in DIR/demo.json
// so that a demo interrupted (Ctrl-C, kill) and run again on the same directory rebuilds the same
// workload, with the same stable message ids, and finishes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace idem::tools::demo {

struct DemoOptions {
  // The workload (kept in DIR/demo.json).
  std::string app;  // "bank" or "orders"
  std::uint64_t transfers = 10'000;
  std::uint64_t accounts = 1'000;
  std::uint64_t orders = 1'000;
  std::uint64_t seed = 1;
  // Empty: the embedded bus in DIR/bus. "nats://HOST:PORT[,...]": NATS JetStream. Kept in
  // DIR/demo.json too: an interrupted demo must finish on the transport that holds its work.
  std::string transport;
  // This run only.
  std::filesystem::path dir;
  bool chaos = true;
  std::filesystem::path reportFile;  // empty: no JSON report
  std::chrono::milliseconds lease{1500};
  std::chrono::milliseconds killEvery{900};  // chaos: a kill every killEvery/3 .. 5*killEvery/3
  std::chrono::seconds stallTimeout{60};     // no progress for this long: stop and fail
  // Processes serving each endpoint, competing for its queue and sharing its store. 0: the
  // app's own layout on the embedded bus (bank: two for accounts, one for the others), 2 on NATS.
  unsigned processesPerEndpoint = 0;
};

// Which workload parameters were given on the command line (the others take the saved values).
struct GivenFlags {
  bool transfers = false;
  bool accounts = false;
  bool orders = false;
  bool seed = false;
  bool transport = false;
};

// Reads DIR/demo.json when it exists and takes its workload parameters and transport into
// `options`. Throws idem::Error (permanent) when a flag in `given` or the app conflicts with the
// saved value
// (the directory holds another demo's work: use another --dir or delete it). Otherwise writes
// DIR/demo.json with the parameters in use. Returns true when the directory held an unfinished
// demo. A demo that ran to its report before is started afresh: its directory is emptied.
bool reconcileWithSaved(DemoOptions& options, const GivenFlags& given);

// Marks the demo in options.dir as finished (it reached its report), in DIR/demo.json.
void markFinished(const DemoOptions& options);

}  // namespace idem::tools::demo
