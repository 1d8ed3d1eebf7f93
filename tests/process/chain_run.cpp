// ChainRun: processes, a recorder and the oracles.
#include "tests/process/chain_run.h"

#include <signal.h>

#include <catch2/catch.hpp>
#include <deque>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>

#include "framework/nats_changelog.h"
#include "framework/nats_client.h"
#include "framework/nats_ownership.h"
#include "idem/edge.h"
#include "idem/envelope.capnp.h"
#include "idem/error.h"
#include "store/version_store.h"
#include "tests/test_endpoints.h"

namespace idem::test {

namespace {
constexpr const char* kRecorder = "recorder";

EmbeddedTransportOptions busOptions(const std::filesystem::path& workspace) {
  EmbeddedTransportOptions o;
  o.busDirectory = workspace / "bus";
  o.durable = false;  // the recorder's own bookkeeping; endpoint processes commit durably
  return o;
}

// Calls `f`; while NATS is restarting, the recorder's calls fail transiently: returns false.
template <typename F>
bool unlessTransient(F&& f) {
  try {
    f();
    return true;
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kTransient) throw;
    return false;
  }
}

Handlers chainHandlers(const std::string& endpoint) {
  Handlers h(endpoint);
  if (endpoint == "a") addCounterHandlers(h);
  if (endpoint == "b") addRelayHandlers(h);
  if (endpoint == "c") addChainSinkHandlers(h);
  return h;
}

std::uint64_t payloadValue(const Outbound& copy) {
  CanonicalReader envelope(copy.envelope, "envelope");
  auto bytes = envelope.root<wire::Envelope>().getPayload();
  CanonicalReader payload({reinterpret_cast<const std::byte*>(bytes.begin()), bytes.size()},
                          "payload");
  return payload.root<Relayed>().getValue();
}

std::string payloadCounter(const Outbound& copy) {
  CanonicalReader envelope(copy.envelope, "envelope");
  auto bytes = envelope.root<wire::Envelope>().getPayload();
  CanonicalReader payload({reinterpret_cast<const std::byte*>(bytes.begin()), bytes.size()},
                          "payload");
  return payload.root<Relayed>().getCounterId();
}
// The last lines of a process's log, for a failure message.
std::string logTail(const std::filesystem::path& log) {
  std::ifstream in(log);
  std::deque<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    if (lines.size() > 60) lines.pop_front();
  }
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}
}  // namespace

ChainRun::ChainRun(Options options)
    : options_(options),
      dir_("idem-chain"),
      workspace_(dir_.path()),
      supervisor_(dir_.path() / "logs") {
  if (options_.bus == Bus::kNats) {
    if (options_.cluster) {
      cluster_ = std::make_unique<NatsCluster>();
    } else {
      natsServer_ = std::make_unique<NatsServer>();
    }
    NatsTransportOptions o = natsOptionsFor(natsUrl());
    if (options_.cluster) o.replicas = 3;
    o.reconnectWait = std::chrono::milliseconds(50);
    o.publishTimeout = std::chrono::milliseconds(1000);
    if (options_.partitionCount > 1) {  // the deployment step: counts and key functions
      for (const char* e : {"a", "b", "c"}) o.partitionCounts[e] = options_.partitionCount;
      std::vector<Handlers> sets;
      for (const char* e : {"a", "b", "c"}) sets.push_back(chainHandlers(e));
      o.keyResolver = keyResolverFor(std::move(sets));
    }
    auto nats = std::make_unique<NatsTransport>(o);
    nats_ = nats.get();
    tap_ = std::make_unique<NatsTap>(cluster_ ? cluster_->url(0) : natsUrl(),
                                     "idem.in." + std::string(kRecorder) + ".>");
    bus_ = std::move(nats);
  } else {
    auto embedded = std::make_unique<EmbeddedTransport>(busOptions(dir_.path()));
    embedded_ = embedded.get();
    bus_ = std::move(embedded);
  }
  bus_->subscribe(kRecorder, capnp::typeId<Counted>());
  bus_->subscribe(kRecorder, capnp::typeId<Relayed>());
  // The deployment step: every endpoint's subscriptions exist before any process publishes
  // (a published message is routed to the subscribers known when it is published).
  for (const char* e : {"a", "b", "c"}) {
    const Handlers handlers = chainHandlers(e);
    for (const auto& handler : handlers.all()) bus_->subscribe(e, handler->messageType);
  }
}

ChainRun::~ChainRun() = default;

std::vector<std::string> ChainRun::argvFor(const std::string& name, const Process& process) const {
  const std::filesystem::path dir =
      options_.partitionGroups ? workspace_ / "members" / name : workspace_;
  std::vector<std::string> argv{IDEM_TEST_ENDPOINT_BINARY,
                                "--endpoint",
                                process.endpoint,
                                "--dir",
                                dir.string(),
                                "--lease-ms",
                                std::to_string(options_.leaseMs),
                                "--batch",
                                std::to_string(options_.batch)};
  if (options_.bus == Bus::kNats) {
    argv.push_back("--transport");
    argv.push_back(natsUrl());
  }
  if (options_.cluster) argv.insert(argv.end(), {"--nats-replicas", "3"});
  if (options_.partitionGroups) {
    argv.insert(argv.end(), {"--partitions", "auto", "--member", name});
  } else if (!process.partitions.empty()) {
    argv.push_back("--partition-count");
    argv.push_back(std::to_string(options_.partitionCount));
    argv.push_back("--partitions");
    argv.push_back(process.partitions);
  }
  return argv;
}

std::vector<std::filesystem::path> ChainRun::storesOf(const std::string& endpoint) const {
  if (options_.partitionGroups) {
    std::vector<std::filesystem::path> out;
    for (std::uint32_t p = 0; p < options_.partitionCount; ++p) {
      out.push_back(dir_.path() / "restored" / (endpoint + ".p" + std::to_string(p)));
    }
    return out;
  }
  if (options_.partitionCount <= 1) return {workspace_ / "stores" / endpoint};
  std::vector<std::filesystem::path> out;
  for (std::uint32_t p = 0; p < options_.partitionCount; ++p) {
    out.push_back(workspace_ / "stores" / (endpoint + ".p" + std::to_string(p)));
  }
  return out;
}

std::string ChainRun::logOf(const std::string& name) const {
  std::ifstream in(dir_.path() / "logs" / (name + ".log"));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string ChainRun::natsUrl() const { return cluster_ ? cluster_->urls() : natsServer_->url(); }

void ChainRun::killNatsNode(int node) {
  REQUIRE(cluster_);
  REQUIRE(node != 0);
  cluster_->kill(node);
}

void ChainRun::startNatsNode(int node) {
  REQUIRE(cluster_);
  cluster_->start(node);
}

void ChainRun::restartNats() {
  REQUIRE(natsServer_);
  natsServer_->stop();
  natsServer_->start();
}

void ChainRun::start(const std::string& name, const std::string& endpoint,
                     std::vector<std::string> environment, const std::string& partitions) {
  processes_[name] = {endpoint, environment, partitions};
  supervisor_.start(name, argvFor(name, processes_[name]), std::move(environment));
}

void ChainRun::startChain(const std::map<std::string, std::vector<std::string>>& environments) {
  for (const char* e : {"a", "b", "c"}) {
    auto it = environments.find(e);
    start(e, e, it == environments.end() ? std::vector<std::string>{} : it->second);
  }
}

void ChainRun::sendIncrements(int first, int count) {
  std::vector<Outbound> batch;
  for (int i = first; i < first + count; ++i) {
    const EdgeAddress address{MessageId::forEdge("chain", "inc-" + std::to_string(i)), "a",
                              std::chrono::system_clock::now()};
    Bytes bytes = edgeMessage<Increment>(address, [this, i](Increment::Builder m) {
      m.setCounterId("c" + std::to_string(i % options_.counters));
      m.setBy(static_cast<std::uint32_t>(i % 7 + 1));
      m.setOutputs(static_cast<std::uint32_t>(i % 3 + 1));
    });
    sent_[i] = bytes;
    batch.push_back(edgeOutbound(address, capnp::typeId<Increment>(), std::move(bytes)));
  }
  bus_->publish(batch);
}

void ChainRun::resend(int index) {
  const Bytes& bytes = sent_.at(index);
  Outbound copy = observedCopy(bytes);
  bus_->publish(std::span(&copy, 1));
}

void ChainRun::sendFlaky(const std::string& key) {
  const EdgeAddress address{MessageId::forEdge("chain", key), "a",
                            std::chrono::system_clock::now()};
  Outbound m =
      edgeOutbound(address, capnp::typeId<Flaky>(),
                   edgeMessage<Flaky>(address, [&](Flaky::Builder f) { f.setCounterId(key); }));
  bus_->publish(std::span(&m, 1));
  flakySent_.push_back(m.envelope);
}

void ChainRun::killAndRestart(const std::string& name) {
  supervisor_.kill(name, SIGKILL);
  ++kills_;
  supervisor_.start(name, argvFor(name, processes_.at(name)));
}

void ChainRun::killAndWipe(const std::string& name) {
  REQUIRE(options_.partitionGroups);
  supervisor_.kill(name, SIGKILL);
  ++kills_;
  std::filesystem::remove_all(workspace_ / "members" / name);
  supervisor_.start(name, argvFor(name, processes_.at(name)));
}

void ChainRun::pause(const std::string& name) { supervisor_.kill(name, SIGSTOP); }
void ChainRun::resume(const std::string& name) { supervisor_.kill(name, SIGCONT); }

std::string ChainRun::ownerOf(const std::string& endpoint, std::uint32_t partition) {
  const NatsTransportOptions o = natsOptionsFor(natsUrl());
  detail::nats::ConnectionPtr nc = detail::nats::connect(o);
  detail::nats::JsCtxPtr js = detail::nats::jetStream(nc.get(), o.publishTimeout);
  detail::nats::OwnerTable owners(js.get(), 1);
  const auto owner = owners.read(endpoint, partition);
  if (!owner) return "";
  return std::to_string(owner->epoch) + " " + (owner->member.empty() ? "-" : owner->member);
}

std::vector<ChainRun::ChangelogMessage> ChainRun::changelogOf(const std::string& endpoint,
                                                              std::uint32_t partition) {
  using namespace detail::nats;
  const NatsTransportOptions o = natsOptionsFor(natsUrl());
  ConnectionPtr nc = connect(o);
  JsCtxPtr js = jetStream(nc.get(), o.publishTimeout);
  const ChangelogTail tail = readTail(js.get(), endpoint, partition);
  std::vector<ChangelogMessage> out;
  if (tail.sequence == 0) return out;
  const std::string subject = changelogSubject(endpoint, partition);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Ordered = true;
  natsSubscription* raw = nullptr;
  natsStatus s = NATS_OK;
  for (int attempt = 0; attempt < 20; ++attempt) {  // a cluster may be electing leaders
    s = js_SubscribeSync(&raw, js.get(), subject.c_str(), nullptr, &so, nullptr);
    if (s == NATS_OK) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  REQUIRE(s == NATS_OK);
  SubscriptionPtr sub(raw);
  for (;;) {
    natsMsg* m = nullptr;
    REQUIRE(natsSubscription_NextMsg(&m, sub.get(), 10'000) == NATS_OK);
    MsgPtr msg(m);
    jsMsgMetaData* rawMeta = nullptr;
    REQUIRE(natsMsg_GetMetaData(&rawMeta, msg.get()) == NATS_OK);
    MetaDataPtr meta(rawMeta);
    ChangelogMessage c;
    c.sequence = meta->Sequence.Stream;
    c.epoch = static_cast<std::uint64_t>(headerNumber(msg.get(), kEpochHeader).value_or(0));
    c.member = headerText(msg.get(), kMemberHeader);
    c.kind = headerText(msg.get(), kKindHeader);
    out.push_back(c);
    if (c.sequence >= tail.sequence) return out;
  }
}

void ChainRun::restoreChangelogs() {
  using namespace detail::nats;
  const NatsTransportOptions o = natsOptionsFor(natsUrl());
  ConnectionPtr nc = connect(o);
  JsCtxPtr js = jetStream(nc.get(), o.publishTimeout);
  for (const char* e : {"a", "b", "c"}) {
    for (std::uint32_t p = 0; p < options_.partitionCount; ++p) {
      const auto directory = dir_.path() / "restored" / (std::string(e) + ".p" + std::to_string(p));
      for (int attempt = 0;; ++attempt) {  // a cluster may be electing leaders
        std::filesystem::remove_all(directory);
        try {
          store::VersionStore restored(directory, e);
          const ChangelogTail tail = readTail(js.get(), e, p);
          restoreFromChangelog(nc.get(), js.get(), e, p, tail.sequence + 1, restored);
          break;
        } catch (const Error& error) {
          if (error.kind() != ErrorKind::kTransient || attempt == 20) throw;
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
      }
    }
  }
}

void ChainRun::stop(const std::string& name) {
  supervisor_.kill(name, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (supervisor_.running(name) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE_FALSE(supervisor_.running(name));
  REQUIRE(supervisor_.exitStatus(name) == 0);  // drained
  processes_.erase(name);
}

std::vector<std::string> ChainRun::processNames() const {
  std::vector<std::string> names;
  for (const auto& [name, p] : processes_) names.push_back(name);
  return names;
}

std::size_t ChainRun::reEmissionsSeen() const {
  if (tap_) return tappedAgain_;
  std::set<MessageId> ids;
  for (const Outbound& copy : copies_) ids.insert(copy.id);
  return copies_.size() - ids.size();
}

void ChainRun::record() {
  // Every copy published while the tap was connected; the stream below has at least one copy
  // of each (it misses none across nats-server restarts), but none within its duplicate window.
  if (tap_) {
    for (Bytes& body : tap_->take()) {
      copies_.push_back(observedCopy(std::move(body)));
      if (!tapped_.insert(copies_.back().id).second) ++tappedAgain_;
    }
  }
  for (;;) {
    std::vector<Delivery> got;
    if (!unlessTransient(
            [&] { got = bus_->receive(kRecorder, 512, std::chrono::milliseconds(0)); })) {
      return;
    }
    if (got.empty()) return;
    std::vector<std::uint64_t> tags;
    for (Delivery& d : got) {
      tags.push_back(d.tag);
      copies_.push_back(observedCopy(std::move(d.envelope)));  // a copy recorded twice is harmless
    }
    unlessTransient([&] { bus_->ack(kRecorder, tags); });
  }
}

bool ChainRun::drained() {
  if (nats_ != nullptr) {
    std::uint64_t pending = 0;
    const bool answered = unlessTransient([&] {
      for (const char* e : {"a", "b", "c", kRecorder}) pending += nats_->pending(e);
    });
    return answered && pending == 0;
  }
  for (const QueueStats& q : embedded_->queues()) {
    if (q.ready + q.inFlight + q.delayed > 0) return false;
  }
  return true;
}

void ChainRun::runUntilDrained(std::chrono::seconds deadline, const std::function<bool()>& tick) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  bool chaos = static_cast<bool>(tick);
  for (;;) {
    record();
    for (auto& [name, process] : processes_) {
      if (!supervisor_.running(name)) {
        const auto status = supervisor_.exitStatus(name);
        INFO("process " << name << " exited with " << status.value_or(-1) << "; its log ends:\n"
                        << logTail(dir_.path() / "logs" / (name + ".log")));
        // Only the crash points may end a process (and a loud stop, where allowed).
        const bool stopped = options_.processesMayStop && status == 1;
        REQUIRE((status == 128 + SIGKILL || stopped));
        ++crashes_;
        if (stopped) ++stops_;
        supervisor_.start(name, argvFor(name, process));  // without the crash point
      }
    }
    if (chaos) chaos = tick();
    if (!chaos && drained()) {
      record();
      if (drained()) return;
    }
    if (std::chrono::steady_clock::now() > end) {
      std::string logs;
      for (const auto& [name, process] : processes_) {
        logs += "--- " + name + ":\n" + logTail(dir_.path() / "logs" / (name + ".log")) + "\n";
      }
      INFO("the processes' logs end:\n" << logs);
      FAIL("the queues did not drain within the deadline (O8)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Every input a, b and c acked, for O6, once every queue drained. Which inputs were put in each
// endpoint's queue is known here: a's are the edge messages this class sent (sent_, resend()
// repeats those bytes, flakySent_); b's and c's are every Counted and Relayed copy, which the
// handlers publish to subscribers (no named destination), so each copy that reached b's or c's
// queue reached the recorder's too: in the bus's one publish transaction, or, on NATS, because
// publish() confirms only once every target's stream stored it, and outputs not confirmed are
// re-emitted until they are (the server's duplicate window drops a copy only where an earlier
// one was stored). At the end no queue holds anything ready, leased or delayed (checked below),
// so each of those inputs left its queue by an ack or to the endpoint's error queue. O6 is by
// input id: the ids put in a queue minus the ids in its error queue are the ids acked (an id
// with one copy dead-lettered and another acked is left out: O6 is weaker only for such ids).
std::vector<std::pair<std::string, Bytes>> ChainRun::ackedInputs() {
  // The recorder's last acks may take a moment to apply on NATS.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!drained() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    record();
  }
  REQUIRE(drained());
  std::map<std::string, std::set<MessageId>> deadLettered;
  for (const char* e : {"a", "b", "c"}) {
    const std::vector<ErrorEntry> errors = embedded_ ? embedded_->errors(e) : nats_->errors(e);
    for (const ErrorEntry& error : errors) deadLettered[e].insert(observedCopy(error.envelope).id);
  }
  std::vector<std::pair<std::string, Bytes>> acked;
  auto add = [&](const std::string& endpoint, const Bytes& envelope) {
    if (deadLettered[endpoint].count(observedCopy(envelope).id) == 0) {
      acked.emplace_back(endpoint, envelope);
    }
  };
  for (const auto& [index, bytes] : sent_) add("a", bytes);
  for (const Bytes& bytes : flakySent_) add("a", bytes);
  for (const Outbound& copy : copies_) {
    if (copy.messageType == capnp::typeId<Counted>()) add("b", copy.envelope);
    if (copy.messageType == capnp::typeId<Relayed>()) add("c", copy.envelope);
  }
  return acked;
}

void ChainRun::requireExactlyOnce() {
  const auto killed = supervisor_.stopAll(std::chrono::seconds(10));
  REQUIRE(killed.empty());  // every process drained and exited on SIGTERM
  record();
  if (options_.partitionGroups) restoreChangelogs();

  std::vector<StoreUnderTest> stores;
  for (const char* e : {"a", "b", "c"}) {    // partitions of one endpoint share its name: O1
    for (const auto& store : storesOf(e)) {  // then also checks each input is in one of them
      if (std::filesystem::exists(store)) {
        stores.push_back({e, store, [e] { return chainHandlers(e); }});
      }
    }
  }
  const std::vector<std::pair<std::string, Bytes>> acked = ackedInputs();
  REQUIRE(acked.size() >= sent_.size());
  OracleReport report = checkOracles(stores, copies_, acked);
  for (const std::string& v : report.violations) UNSCOPED_INFO(v);
  REQUIRE(report.violations.empty());
  REQUIRE(report.outputsDerived > 0);
  REQUIRE(report.copiesCompared == copies_.size());
  UNSCOPED_INFO(report.copiesCompared << " copies compared byte for byte, " << reEmissionsSeen()
                                      << " of them re-emissions");

  // Downstream exactly-once: c's totals equal the sums over distinct Relayed copies.
  std::map<MessageId, const Outbound*> distinct;
  for (const Outbound& copy : copies_) {
    if (copy.messageType == capnp::typeId<Relayed>()) distinct.emplace(copy.id, &copy);
  }
  std::map<std::string, std::uint64_t> expected;
  for (const auto& [id, copy] : distinct) expected[payloadCounter(*copy)] += payloadValue(*copy);
  std::map<std::string, std::uint64_t> actual;
  std::uint64_t inputsAtA = 0;
  std::vector<std::string> notApplied;
  std::set<MessageId> appliedAtC;
  for (const auto& directory : storesOf("c")) {
    if (!std::filesystem::exists(directory)) continue;
    store::VersionStore c(directory, "c");
    c.read([&](store::Txn& txn) {
      for (const auto& [id, copy] : distinct) {
        if (c.findApplied(txn, id)) appliedAtC.insert(id);
      }
      c.forEachEntity(txn, 0, [&](std::uint64_t entity, const store::EntityName& name) {
        auto snapshot = c.findSnapshotAtOrBefore(txn, entity, c.headVersion(txn, entity));
        REQUIRE(snapshot);
        CanonicalReader state(snapshot->state, "state");
        REQUIRE(actual.count(name.key) == 0);  // one store per entity
        actual[name.key] = state.root<Counter>().getValue();
        return true;
      });
    });
  }
  for (const auto& [id, copy] : distinct) {
    if (appliedAtC.count(id) == 0) notApplied.push_back(id.toHex());
  }
  for (const auto& directory : storesOf("a")) {
    if (!std::filesystem::exists(directory)) continue;
    store::VersionStore a(directory, "a");
    a.read([&](store::Txn& txn) {
      for (const auto& [index, bytes] : sent_) {
        inputsAtA += a.findApplied(txn, observedCopy(bytes).id).has_value();
      }
    });
  }
  for (const std::string& id : notApplied) UNSCOPED_INFO("Relayed " << id << " never applied at c");
  REQUIRE(notApplied.empty());  // O6 downstream: every Relayed delivered to c was applied there
  for (const auto& [counter, total] : expected) {
    CAPTURE(counter, total, actual[counter]);
    REQUIRE(actual[counter] == total);
  }
  REQUIRE(actual.size() == expected.size());
  REQUIRE(inputsAtA == sent_.size());  // every edge input applied (once: O1 above)
}

}  // namespace idem::test
