// Fenced partition owners as real processes (`--partitions auto`, each process with a disk of
// its own) over NATS: the chain a -> b -> c with four partitions per endpoint. A kill -9 of an
// owner moves its partitions to the other member, which restores them from the changelogs; the
// killed process comes back with an empty disk. A SIGSTOPped owner loses its partitions after
// its lease and, once continued, is fenced: no changelog message of its old epochs after the
// new owner's claim, and every output copy recorded derives from a version in the changelogs
// (the oracles run over the stores restored from them).
#include <catch2/catch.hpp>
#include <thread>

#include "tests/process/chain_run.h"

namespace idem::test {

namespace {
constexpr std::uint32_t kPartitions = 4;

ChainRun::Options groupOptions() {
  ChainRun::Options o;
  o.bus = ChainRun::Bus::kNats;
  o.partitionCount = kPartitions;
  o.partitionGroups = true;
  o.counters = 24;
  o.leaseMs = 1000;  // the group's lease and the consumers' AckWait
  return o;
}

// The epochs on every changelog subject never go down, and each "records" message was written
// by the member that claimed its epoch.
void requireFencedChangelogs(ChainRun& run, const char* endpoint) {
  for (std::uint32_t p = 0; p < kPartitions; ++p) {
    std::uint64_t epoch = 0;
    std::string claimedBy;
    for (const ChainRun::ChangelogMessage& m : run.changelogOf(endpoint, p)) {
      CAPTURE(endpoint, p, m.sequence, m.epoch, m.member, m.kind);
      REQUIRE(m.epoch >= epoch);
      if (m.kind == "claim") {
        REQUIRE(m.epoch > epoch);
        claimedBy = m.member;
      } else {
        REQUIRE(m.kind == "records");
        REQUIRE(m.epoch == epoch);
        REQUIRE(m.member == claimedBy);
      }
      epoch = m.epoch;
    }
  }
}

bool allOwnedBy(ChainRun& run, const char* endpoint, const std::string& member) {
  for (std::uint32_t p = 0; p < kPartitions; ++p) {
    const std::string owner = run.ownerOf(endpoint, p);
    if (!owner.ends_with(" " + member)) return false;
  }
  return true;
}
}  // namespace

TEST_CASE(
    "fence: kill -9 of owners mid-run: partitions move, restore from changelogs on an "
    "empty disk, exactly once",
    "[nats][fence][partition][process]") {
  ChainRun run(groupOptions());
  for (const char* e : {"a", "b", "c"}) {
    run.start(std::string(e) + "1", e);
    run.start(std::string(e) + "2", e);
  }
  int sent = 0;
  int round = 0;
  run.runUntilDrained(std::chrono::seconds(150), [&] {
    if (round % 25 == 0 && sent < 400) {
      run.sendIncrements(sent, 50);
      sent += 50;
    }
    if (round == 60) run.killAndWipe("a1");
    if (round == 130) run.killAndWipe("b2");
    if (round == 200) run.killAndWipe("c1");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return ++round < 260;
  });
  REQUIRE(run.kills() == 3);
  for (const char* e : {"a", "b", "c"}) requireFencedChangelogs(run, e);
  run.requireExactlyOnce();
  // The killed members came back with empty disks and restored what they took since.
  const std::string log = run.logOf("a1") + run.logOf("b2") + run.logOf("c1");
  CHECK(log.find("restored") != std::string::npos);
}

TEST_CASE("fence: a SIGSTOPped owner loses its partitions and, continued, is fenced",
          "[nats][fence][partition][process]") {
  ChainRun run(groupOptions());
  run.start("a1", "a");
  run.start("a2", "a");
  run.start("b1", "b");
  run.start("c1", "c");
  run.sendIncrements(0, 100);
  // Both a members serve (two partitions each) before a1 stalls mid-run.
  bool paused = false, moved = false, resumed = false;
  int sent = 100;
  auto movedAt = std::chrono::steady_clock::now();
  run.runUntilDrained(std::chrono::seconds(150), [&] {
    if (!paused) {
      bool a1Owns = false;
      for (std::uint32_t p = 0; p < kPartitions; ++p) {
        a1Owns = a1Owns || run.ownerOf("a", p).ends_with(" a1");
      }
      if (a1Owns) {
        run.sendIncrements(sent, 100);  // in flight at a1 when it stops
        sent += 100;
        run.pause("a1");
        paused = true;
      }
    } else if (!moved) {
      if (allOwnedBy(run, "a", "a2")) {
        moved = true;
        movedAt = std::chrono::steady_clock::now();
        run.sendIncrements(sent, 100);
        sent += 100;
      }
    } else if (!resumed && std::chrono::steady_clock::now() - movedAt > std::chrono::seconds(1)) {
      run.resume("a1");
      resumed = true;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return true;
  });
  REQUIRE(resumed);
  // Continued, a1 notices at its next changelog append or group step (every lease/4); the chain
  // may drain before that, so its log is awaited rather than read once.
  std::string log;
  bool fenced = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!fenced && std::chrono::steady_clock::now() < deadline) {
    log = run.logOf("a1");
    fenced = log.find("fenced") != std::string::npos || log.find("taken over") != std::string::npos;
    if (!fenced) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  INFO(log.substr(log.size() > 4000 ? log.size() - 4000 : 0));
  REQUIRE(fenced);
  // Which of the two noticed first: the refused changelog append, or the group's owner check.
  WARN("a1 refused by the server (10071): "
       << (log.find("fenced: a newer owner claimed") != std::string::npos ? "yes" : "no")
       << "; stopped by its group's owner check: "
       << (log.find("taken over") != std::string::npos ? "yes" : "no"));
  requireFencedChangelogs(run, "a");
  run.requireExactlyOnce();
}

TEST_CASE("fence: one nats-server node of three killed mid-run: nothing lost, nothing doubled",
          "[.cluster]") {
  ChainRun::Options o = groupOptions();
  o.cluster = true;
  ChainRun run(o);
  run.start("a1", "a");
  run.start("a2", "a");
  run.start("b1", "b");
  run.start("c1", "c");
  int sent = 0;
  int round = 0;
  run.runUntilDrained(std::chrono::seconds(200), [&] {
    if (round % 30 == 0 && sent < 300) {
      run.sendIncrements(sent, 50);
      sent += 50;
    }
    if (round == 60) run.killNatsNode(2);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return ++round < 200;
  });
  for (const char* e : {"a", "b", "c"}) requireFencedChangelogs(run, e);
  run.requireExactlyOnce();
}

}  // namespace idem::test
