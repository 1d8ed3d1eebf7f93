// ChainRun: the test chain a -> b -> c (tests/process/test_endpoint_main.cpp) as real endpoint
// processes over one transport (the embedded bus, or NATS JetStream with a nats-server started
// for the run), with a recorder in this process that keeps every copy published, process
// crashes and restarts, and the oracles once everything drained. Over NATS the recorder also
// taps its subjects on core NATS, so that re-emitted copies, which the recorder's stream drops
// inside its duplicate window, are compared byte for byte too.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "idem/embedded_transport.h"
#include "idem/nats_transport.h"
#include "tests/nats_server.h"
#include "tests/nats_tap.h"
#include "tests/oracles.h"
#include "tests/temp_dir.h"
#include "tools/supervisor.h"

namespace idem::test {

class ChainRun {
 public:
  enum class Bus { kEmbedded, kNats };
  struct Options {
    unsigned leaseMs = 300;
    std::size_t batch = 16;
    Bus bus = Bus::kEmbedded;
    int counters = 5;  // the Increments go to counters c0..c<counters-1>
    // NATS only: a, b and c each get this many partitions (declared by the recorder before any
    // process starts); start processes with the partitions they own.
    std::uint32_t partitionCount = 1;
    // A process may also end by itself with exit code 1 (an endpoint that stopped loudly, e.g.
    // on a poisoned environment after a disk fault); runUntilDrained() restarts it too.
    bool processesMayStop = false;
    // NATS only: processes run with `--partitions auto` (fenced owners with changelogs), each
    // with a workspace of its own (its own "disk": DIR/members/<name>); the oracles then check
    // the stores restored from the changelogs, the partitions' state of record.
    bool partitionGroups = false;
    // NATS only: a 3-node nats-server cluster (tests/nats_server.h) instead of one server, every
    // stream and bucket with 3 replicas.
    bool cluster = false;
  };
  explicit ChainRun(Options options);
  ~ChainRun();

  // Starts process `name` serving endpoint `endpoint` ("a", "b" or "c") with `environment`
  // ("KEY=value", e.g. "IDEM_CRASH_AT=after-commit:3"). A process that dies is restarted by
  // runUntilDrained() without that environment.
  // `partitions` ("0-1"): the partitions of `endpoint` the process owns (partitionCount > 1).
  void start(const std::string& name, const std::string& endpoint,
             std::vector<std::string> environment = {}, const std::string& partitions = "");
  void startChain(const std::map<std::string, std::vector<std::string>>& environments = {});

  // Edge Increments inc-<first>..inc-<first+count-1> to a, each with 1 to 3 outputs.
  void sendIncrements(int first, int count);
  // The same bytes again: a duplicate from the sender.
  void resend(int index);
  void sendFlaky(const std::string& key);

  // SIGTERMs process `name`, waits until it drained and exited 0, and forgets it.
  void stop(const std::string& name);
  // SIGKILLs process `name` and starts it again at once (without its crash environment).
  void killAndRestart(const std::string& name);
  std::vector<std::string> processNames() const;
  // partitionGroups: SIGKILLs process `name`, deletes its workspace (a lost disk) and starts it
  // again at once with an empty one.
  void killAndWipe(const std::string& name);
  // SIGSTOP / SIGCONT process `name` (a stalled owner).
  void pause(const std::string& name);
  void resume(const std::string& name);
  // partitionGroups: the owner of partition `partition` of `endpoint` in the owner bucket, as
  // "<epoch> <member>" ("" when none).
  std::string ownerOf(const std::string& endpoint, std::uint32_t partition);
  // partitionGroups: every message of the changelog of `endpoint`'s partition, oldest first.
  struct ChangelogMessage {
    std::uint64_t sequence = 0;
    std::uint64_t epoch = 0;
    std::string member;
    std::string kind;
  };
  std::vector<ChangelogMessage> changelogOf(const std::string& endpoint, std::uint32_t partition);

  // Records copies and restarts processes that died; calls `tick` each round (chaos) until it
  // returns false, then waits until every queue is empty. FAILs after `deadline` (O8).
  void runUntilDrained(std::chrono::seconds deadline, const std::function<bool()>& tick = {});

  // Processes that died by themselves (crash points) and were restarted.
  unsigned crashes() const { return crashes_; }
  unsigned kills() const { return kills_; }
  // Of crashes(): the processes that exited with code 1 (Options::processesMayStop).
  unsigned stops() const { return stops_; }
  // Everything process `name` logged so far (all its runs), and the workspace's directory.
  std::string logOf(const std::string& name) const;
  const std::filesystem::path& workspace() const { return workspace_; }
  std::size_t copiesRecorded() const { return copies_.size(); }
  // Publishes seen of a message id seen published before: the re-emitted copies the oracles
  // compare with the first (over NATS counted on the tap, which sees each publish once).
  std::size_t reEmissionsSeen() const;

  // The store directories of `endpoint`, one per partition, indexed by partition.
  std::vector<std::filesystem::path> storesOf(const std::string& endpoint) const;

  // NATS only: stops nats-server (SIGTERM) and starts it again over the same store.
  void restartNats();
  // cluster: SIGKILLs node `node` of the three (not the recorder tap's node 0), or starts it
  // again over its store.
  void killNatsNode(int node);
  void startNatsNode(int node);
  // The URL (list) processes connect to.
  std::string natsUrl() const;

  // Stops every process (SIGTERM, drain) and checks the oracles over a, b and c by bytes, the
  // sink's totals against the distinct copies, and that each edge input is applied once at a.
  void requireExactlyOnce();

 private:
  struct Process {
    std::string endpoint;
    std::vector<std::string> environment;
    std::string partitions;
  };
  void record();
  bool drained();
  std::vector<std::pair<std::string, Bytes>> ackedInputs();
  std::vector<std::string> argvFor(const std::string& name, const Process& process) const;
  // partitionGroups: restores every partition of a, b and c from its changelog into
  // DIR/restored (what storesOf() returns then).
  void restoreChangelogs();

  Options options_;
  TempDir dir_;
  std::filesystem::path workspace_;
  tools::Supervisor supervisor_;
  std::unique_ptr<NatsServer> natsServer_;  // with Bus::kNats
  std::unique_ptr<NatsCluster> cluster_;    // with Bus::kNats and Options::cluster
  std::unique_ptr<NatsTap> tap_;            // with Bus::kNats: every publish to the recorder
  std::unique_ptr<Transport> bus_;
  EmbeddedTransport* embedded_ = nullptr;  // bus_, when it is the embedded one
  NatsTransport* nats_ = nullptr;          // bus_, when it is NATS
  std::map<std::string, Process> processes_;
  std::map<int, Bytes> sent_;
  std::vector<Bytes> flakySent_;  // the Flaky edge messages sent to a
  std::vector<Outbound> copies_;
  std::set<MessageId> tapped_;  // ids the tap saw
  std::size_t tappedAgain_ = 0;
  unsigned crashes_ = 0;
  unsigned kills_ = 0;
  unsigned stops_ = 0;
};

}  // namespace idem::test
