// Disk faults under real endpoint processes: tests/diskfault/fault_shim.c, preloaded into the
// endpoint processes, makes the files of b's version store or of the bus fail with ENOSPC (disk
// full), EIO on write or EIO on fsync while the chain a -> b -> c runs. Disk full: the endpoint
// backs off and resumes when space returns. EIO: the environment is poisoned, the endpoint stops
// with exit code 1, is restarted and reopens. Either way the run drains exactly-once.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/process/chain_run.h"

namespace idem::test {

// Not in the AddressSanitizer build: there the shim's faults never reached LMDB (no process
// logged the fault; ASan's own interceptors of write/fsync are the likely reason, not
// investigated). The test is compiled out rather than reported as passing; the plain build runs it.
#if !defined(__SANITIZE_ADDRESS__)
namespace {

void setFault(const std::filesystem::path& control, const std::string& mode) {
  const auto next = control.string() + ".next";
  std::ofstream(next) << mode << '\n';
  std::filesystem::rename(next, control);  // the shim reads either the old word or the new one
}

}  // namespace

TEST_CASE("a disk fault under a running chain costs no message and no exactly-once",
          "[diskfault][process]") {
  std::string target = GENERATE("store", "bus");
  std::string mode = GENERATE("enospc", "eio-write", "eio-fsync");
  // IDEM_DISKFAULT=target:mode runs one combination (when investigating).
  if (const char* only = std::getenv("IDEM_DISKFAULT")) {
    const std::string wanted = only;
    if (wanted != target + ":" + mode) return;
  }
  CAPTURE(target, mode);
  ChainRun::Options options;
  options.processesMayStop = true;
  ChainRun run(options);

  const auto root = std::filesystem::canonical(run.workspace());
  const auto control = root / "fault-control";
  setFault(control, "none");
  // The store: only b's. The bus: a full or failing disk fails every process that writes it.
  const auto faultDir = target == "store" ? root / "stores" / "b" : root / "bus";
  const std::vector<std::string> shimmed{"LD_PRELOAD=" IDEM_FAULT_SHIM,
                                         "IDEM_FAULT_DIR=" + faultDir.string(),
                                         "IDEM_FAULT_CONTROL=" + control.string()};
  const std::vector<std::string> names =
      target == "store" ? std::vector<std::string>{"b"} : std::vector<std::string>{"a", "b", "c"};
  for (const char* e : {"a", "b", "c"}) {
    const bool faulted = std::find(names.begin(), names.end(), e) != names.end();
    run.start(e, e, faulted ? shimmed : std::vector<std::string>{});
  }

  // What the process that hit the fault logs: disk full names the file; EIO poisons it.
  const bool diskFull = mode == "enospc";
  const std::string sign = diskFull ? "data.mdb: disk full" : "the environment is poisoned";
  auto signLogged = [&] {
    for (const auto& name : names) {
      const std::string log = run.logOf(name);
      if (log.find(sign) != std::string::npos) {
        CHECK(log.find((faultDir / "data.mdb").string()) != std::string::npos);
        return true;
      }
    }
    return false;
  };

  enum class Phase { kStarting, kFaulted, kLifted } phase = Phase::kStarting;
  std::chrono::steady_clock::time_point faultedUntil;
  run.runUntilDrained(std::chrono::seconds(90), [&] {
    switch (phase) {
      case Phase::kStarting:  // every shimmed process opened its environments
        for (const auto& name : names) {
          if (run.logOf(name).find("serving") == std::string::npos) return true;
        }
        setFault(control, mode);
        faultedUntil = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        run.sendIncrements(0, 150);  // all of it under the fault
        phase = Phase::kFaulted;
        return true;
      case Phase::kFaulted:
        if (!signLogged()) {
          if (std::chrono::steady_clock::now() < faultedUntil) return true;
          for (const auto& name : names) INFO(name << " logged:\n" << run.logOf(name));
          FAIL("no process logged '" << sign << "' under the fault");
        }
        // Space returns; a process that stopped is restarted (without the shim) meanwhile.
        setFault(control, "none");
        phase = Phase::kLifted;
        return false;
      case Phase::kLifted:
        break;
    }
    return false;
  });
  if (diskFull) {
    REQUIRE(run.crashes() == 0);  // backed off and resumed: nobody stopped
  } else {
    REQUIRE(run.stops() >= 1);  // stopped loudly, restarted, reopened
    REQUIRE(run.stops() == run.crashes());
  }
  run.requireExactlyOnce();
}
#endif  // !defined(__SANITIZE_ADDRESS__)

}  // namespace idem::test
