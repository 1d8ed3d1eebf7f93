// ExploreWorld: the scheduler, the exploration transport and the per-execution oracles.
#include "tests/explore/explore_world.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "framework/pipeline.h"
#include "framework/simulation_transport.h"
#include "idem/canonical.h"
#include "idem/edge.h"
#include "idem/envelope.capnp.h"
#include "idem/error.h"
#include "tests/oracles.h"
#include "tests/temp_dir.h"
#include "tests/test_endpoints.h"

namespace idem::explore {

namespace {

// Unwinds a parked consumer thread when the execution ends (not a std::exception: nothing in
// the pipeline catches it).
struct Stop {};

const TimePoint kTime = TimePoint{} + std::chrono::hours(24 * 365 * 50);

class Hasher {
 public:
  void add(const void* data, std::size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) {
      a_ = (a_ ^ p[i]) * 0x100000001b3ULL;
      b_ = (b_ ^ p[i]) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
    }
    add64Raw(size);
  }
  void add(std::span<const std::byte> bytes) { add(bytes.data(), bytes.size()); }
  void add(std::string_view s) { add(s.data(), s.size()); }
  void add(std::uint64_t v) { add(&v, sizeof v); }
  void add(const Digest& d) {
    add(d.a);
    add(d.b);
  }
  void add(const MessageId& id) { add(id.bytes.data(), id.bytes.size()); }
  Digest digest() const {
    auto mix = [](std::uint64_t x) {
      x ^= x >> 33;
      x *= 0xff51afd7ed558ccdULL;
      x ^= x >> 33;
      x *= 0xc4ceb9fe1a85ec53ULL;
      return x ^ (x >> 33);
    };
    return {mix(a_), mix(b_ ^ a_)};
  }

 private:
  void add64Raw(std::uint64_t v) {
    a_ = (a_ ^ v) * 0x100000001b3ULL;
    b_ = (b_ ^ (v + 1)) * 0x100000001b3ULL;
  }
  std::uint64_t a_ = 0xcbf29ce484222325ULL, b_ = 0x84222325cbf29ce4ULL;
};

Digest digestOf(std::span<const std::byte> bytes) {
  Hasher h;
  h.add(bytes);
  return h.digest();
}

// Where a consumer stopped. kInHandler and kBeforeCommit are inside the write transaction.
enum class Site {
  kReceive,
  kInHandler,
  kBeforeCommit,
  kAfterCommit,
  kPublish,
  kAfterPublish,
  kBeforeAck,
  kAck,
  kSettle
};
const char* siteName(Site s) {
  switch (s) {
    case Site::kReceive:
      return "receive";
    case Site::kInHandler:
      return "in-handler";
    case Site::kBeforeCommit:
      return "before-commit";
    case Site::kAfterCommit:
      return "after-commit";
    case Site::kPublish:
      return "publish";
    case Site::kAfterPublish:
      return "after-publish";
    case Site::kBeforeAck:
      return "before-ack";
    case Site::kAck:
      return "ack";
    case Site::kSettle:
      return "retry/dead-letter";
  }
  return "?";
}
bool inTransaction(Site s) { return s == Site::kInHandler || s == Site::kBeforeCommit; }

struct Command {
  enum Kind { kGo, kCrash, kCrashAfter, kDupFront, kDupBack, kStop } kind = kGo;
  std::size_t after = 0;  // kCrashAfter: messages handed over before the crash
};

struct Message {
  Bytes envelope;
  Digest digest;
  MessageId id;
  std::uint32_t attempt = 1;
};

MessageId idOf(std::span<const std::byte> envelope, bool causation) {
  CanonicalReader reader(envelope, "explored envelope");
  auto e = reader.root<wire::Envelope>();
  auto raw = causation ? e.getCausationId() : e.getId();
  return MessageId::fromBytes({raw.begin(), raw.size()}).value_or(MessageId{});
}

Message messageOf(Bytes envelope) {
  Message m;
  m.digest = digestOf(envelope);
  m.id = idOf(envelope, false);
  m.envelope = std::move(envelope);
  return m;
}

class World;

struct Consumer {
  int index = 0;
  std::string endpoint;
  store::VersionStore* store = nullptr;
  std::unique_ptr<Handlers> handlers;
  EndpointOptions options;
  EndpointStats stats;
  std::unique_ptr<detail::Pipeline> pipeline;
  std::thread thread;
  // Scheduler state, guarded by World::mu_.
  bool parked = false, finished = false;
  Site site = Site::kReceive;
  std::size_t pending = 0;  // kPublish: messages in the call
  Command command;
  std::condition_variable wake;  // its turn came
  unsigned crashesLeft = 0;
  // What the state digest needs of the consumer's memory (docs/exploration.md).
  bool inBatch = false;
  Digest basis;  // store + pipeline memory when the batch was received
  std::vector<Digest> held;
  unsigned step = 0;  // choice points since the batch was received
  // Whether it touched shared state (transport, committed store) since its last choice point.
  // A point reached without is silent: nothing but its own memory changed since the last one.
  bool touched = true;
  bool silent = false;  // parked at a silent point: only a partial publish crash is offered
};

class ExploreTransport;

class World {
 public:
  World(const Config& config, Chooser& chooser);
  ~World();
  Execution run();

  // --- called by consumer threads -------------------------------------------------------
  Command yield(Consumer& c, Site site, std::size_t pending = 0);
  void violation(std::string text) { execution_.violations.push_back(std::move(text)); }
  Consumer& current() { return *consumers_[static_cast<std::size_t>(turn_)]; }

  // Transport state (touched only by the thread holding the baton).
  std::map<std::string, std::deque<Message>> ready;
  std::map<std::uint64_t, std::pair<int, Message>> leases;
  std::map<std::uint64_t, std::set<std::string>> subscribers;
  std::map<MessageId, Digest> firstCopy;                 // O2
  std::set<std::pair<MessageId, Digest>> copies;         // distinct (id, bytes) published
  std::vector<Outbound> copyList;                        // every copy, for checkOracles
  std::set<std::pair<std::string, Digest>> ackedSet;     // distinct (endpoint, bytes) acked
  std::vector<std::pair<std::string, Bytes>> ackedList;  // for checkOracles
  std::map<std::string, std::set<MessageId>> routed;     // ids ever queued per endpoint
  std::set<MessageId> knownIds;
  std::uint64_t nextTag = 1;
  unsigned duplicatesLeft = 0;
  unsigned sharedCrashesLeft = 0;
  const Config& config;

  store::VersionStore& storeOf(const std::string& endpoint) { return *stores_.at(endpoint); }
  Digest storeDigest(const std::string& endpoint);
  Digest pipelineDigest(const Consumer& c);

 private:
  void consumerMain(Consumer& c);
  void processBatch(Consumer& c);
  unsigned& budget(Consumer& c) {
    return config.scenario == Scenario::kChain ? sharedCrashesLeft : c.crashesLeft;
  }
  bool blocked(const Consumer& c);
  Digest globalDigest();
  Digest localDigest(const Consumer& c);
  void stopAll(std::unique_lock<std::mutex>& lock);
  void finalOracles();
  void inject(const std::string& endpoint, Bytes envelope);

  Chooser& chooser_;
  Execution execution_;
  test::TempDir dir_{"idem-explore"};
  std::vector<std::string> endpoints_;
  std::map<std::string, std::unique_ptr<store::VersionStore>> stores_;
  std::map<std::string, std::function<Handlers()>> factories_;
  std::unique_ptr<ExploreTransport> transport_;
  std::vector<std::unique_ptr<Consumer>> consumers_;
  std::mutex mu_;
  std::condition_variable cv_;
  int turn_ = -1;  // the consumer holding the baton; -1: the scheduler
  int lastParked_ = -1;
};

// The transport: FIFO queues per endpoint, leases that return to the back of the queue when
// their consumer crashes, every call a choice point.
class ExploreTransport : public Transport {
 public:
  explicit ExploreTransport(World& world) : world_(world) {}

  void subscribe(std::string_view endpoint, std::uint64_t messageType) override {
    world_.subscribers[messageType].insert(std::string(endpoint));
  }
  std::vector<Delivery> receive(std::string_view endpoint, std::size_t maxCount,
                                std::chrono::milliseconds) override {
    Consumer& c = world_.current();
    c.inBatch = false;
    const Command cmd = world_.yield(c, Site::kReceive);
    c.held.clear();
    c.step = 0;
    c.inBatch = true;
    c.touched = true;  // took deliveries, and an idle step reads the store next
    std::deque<Message>& queue = world_.ready[std::string(endpoint)];
    std::vector<Delivery> out;
    while (out.size() < maxCount && !queue.empty()) {
      Message m = std::move(queue.front());
      queue.pop_front();
      if (out.empty() && (cmd.kind == Command::kDupFront || cmd.kind == Command::kDupBack)) {
        --world_.duplicatesLeft;
        Message copy = m;
        copy.attempt = 1;
        if (cmd.kind == Command::kDupFront) {
          queue.push_front(std::move(copy));
        } else {
          queue.push_back(std::move(copy));
        }
      }
      const std::uint64_t tag = world_.nextTag++;
      out.push_back({m.envelope, tag, m.attempt});
      c.held.push_back(m.digest);
      world_.leases.emplace(tag, std::make_pair(c.index, std::move(m)));
    }
    c.basis = basisOf(c, out);
    return out;
  }
  // What the consumer's memory holds of the committed store from this receive to the next
  // (docs/exploration.md, "What the digest leaves out"). Its write transaction starts before any
  // other consumer runs, so it sees the store as it is now. A batch: per delivery, whether it
  // will publish its input's recorded outputs (first copy, or a copy whose outputs are still
  // owed) or nothing (already published); an idle step: the publication set it will sweep.
  Digest basisOf(Consumer& c, const std::vector<Delivery>& batch) {
    Hasher h;
    h.add(world_.pipelineDigest(c));
    store::VersionStore& store = *c.store;
    store.read([&](store::Txn& txn) {
      if (batch.empty()) {
        store.forEachUnpublished(txn, 0, [&](std::uint64_t seq) {
          h.add(seq);
          return true;
        });
      }
      for (const Delivery& d : batch) {
        const MessageId id = idOf(d.envelope, false);
        const bool publishes = !store.findApplied(txn, id) || store.isUnpublished(txn, id);
        h.add(std::uint64_t{publishes});
      }
    });
    return h.digest();
  }

  void checkOutbound(const Outbound&) const override {}
  void publish(std::span<const Outbound> messages) override {
    Consumer& c = world_.current();
    const Command cmd = world_.yield(c, Site::kPublish, messages.size());
    const std::size_t count = cmd.kind == Command::kCrashAfter ? cmd.after : messages.size();
    for (std::size_t i = 0; i < count; ++i) {
      const Outbound& m = messages[i];
      const Digest d = digestOf(m.envelope);
      // O4: the input that produced it is applied in the committed store now.
      const MessageId cause = idOf(m.envelope, true);
      store::VersionStore& store = *c.store;
      bool applied = false;
      store.read([&](store::Txn& txn) { applied = store.findApplied(txn, cause).has_value(); });
      if (!applied) {
        world_.violation("O4 ghost: " + c.endpoint + " published " + m.id.toHex() +
                         " before its input " + cause.toHex() + " was committed");
      }
      // O2: every copy of an id is byte-identical to the first.
      auto [first, inserted] = world_.firstCopy.emplace(m.id, d);
      if (!inserted && !(first->second == d)) {
        world_.violation("O2 alternative worlds: two different copies of " + m.id.toHex());
      }
      world_.copies.insert({m.id, d});
      world_.copyList.push_back(m);
      world_.knownIds.insert(m.id);
      std::set<std::string> to;
      if (!m.destination.empty()) {
        to.insert(m.destination);
      } else if (auto s = world_.subscribers.find(m.messageType); s != world_.subscribers.end()) {
        to = s->second;
      }
      for (const std::string& endpoint : to) {
        world_.ready[endpoint].push_back(messageOf(m.envelope));
        world_.routed[endpoint].insert(m.id);
      }
    }
    c.touched = true;
    if (cmd.kind == Command::kCrashAfter) throw SimulatedCrash{"part-way through publish"};
  }
  void ack(std::string_view endpoint, std::span<const std::uint64_t> tags) override {
    Consumer& c = world_.current();
    world_.yield(c, Site::kAck);
    for (std::uint64_t tag : tags) {
      auto lease = world_.leases.find(tag);
      if (lease == world_.leases.end()) continue;  // acked already (the ack-early mutant)
      const Message& m = lease->second.second;
      // O6: the acked input is applied in the committed store.
      bool applied = false;
      c.store->read(
          [&](store::Txn& txn) { applied = c.store->findApplied(txn, m.id).has_value(); });
      if (!applied) {
        world_.violation("O6: " + c.endpoint + " acked " + m.id.toHex() +
                         " which has no committed version");
      }
      world_.ackedSet.insert({std::string(endpoint), m.digest});
      world_.ackedList.emplace_back(std::string(endpoint), m.envelope);
      world_.leases.erase(lease);
    }
    c.touched = true;
  }
  void retryLater(std::string_view endpoint, std::uint64_t tag,
                  std::chrono::milliseconds) override {
    Consumer& c = world_.current();
    world_.yield(c, Site::kSettle);
    auto lease = world_.leases.find(tag);
    if (lease == world_.leases.end()) return;
    Message m = std::move(lease->second.second);
    world_.leases.erase(lease);
    ++m.attempt;
    world_.ready[std::string(endpoint)].push_back(std::move(m));
    c.touched = true;
  }
  void deadLetter(std::string_view endpoint, std::uint64_t tag,
                  const ErrorReport& report) override {
    Consumer& c = world_.current();
    world_.yield(c, Site::kSettle);
    world_.violation("unexpected dead letter at " + std::string(endpoint) + ": " + report.reason);
    world_.leases.erase(tag);
    c.touched = true;
  }

 private:
  World& world_;
};

Bytes increment(const std::string& destination, const std::string& key, const char* counter,
                std::uint32_t by, std::uint32_t outputs) {
  return edgeMessage<test::Increment>({MessageId::forEdge("explore", key), destination, kTime},
                                      [&](test::Increment::Builder m) {
                                        m.setCounterId(counter);
                                        m.setBy(by);
                                        m.setOutputs(outputs);
                                      });
}
Bytes ping(const std::string& destination, const std::string& key, const char* counter) {
  return edgeMessage<test::Ping>({MessageId::forEdge("explore", key), destination, kTime},
                                 [&](test::Ping::Builder m) { m.setCounterId(counter); });
}

World::World(const Config& cfg, Chooser& chooser)
    : config(cfg), chooser_(chooser), transport_(std::make_unique<ExploreTransport>(*this)) {
  duplicatesLeft = config.duplicates;
  sharedCrashesLeft = config.crashes;
  const bool hidden = config.mutant == Mutant::kHiddenCounter;
  const std::string head = config.scenario == Scenario::kChain ? "A" : "E";
  endpoints_.push_back(head);
  factories_[head] = [head, hidden] {
    return test::counterHandlers(head, std::make_shared<test::CounterKnobs>(), hidden);
  };
  if (config.scenario == Scenario::kChain) {
    endpoints_.push_back("B");
    factories_["B"] = [] { return test::sinkHandlers("B"); };
  }
  store::StoreOptions storeOptions;
  storeOptions.durable = false;
  storeOptions.initialMapBytes = std::size_t{1} << 20;
  for (const std::string& e : endpoints_) {
    stores_[e] = std::make_unique<store::VersionStore>(dir_ / e, e, storeOptions);
  }
  std::vector<std::string> consumerEndpoints = config.scenario == Scenario::kChain
                                                   ? std::vector<std::string>{"A", "B"}
                                                   : std::vector<std::string>{"E", "E"};
  for (std::size_t i = 0; i < consumerEndpoints.size(); ++i) {
    auto c = std::make_unique<Consumer>();
    c->index = static_cast<int>(i);
    c->endpoint = consumerEndpoints[i];
    c->store = stores_[c->endpoint].get();
    c->handlers = std::make_unique<Handlers>(factories_[c->endpoint]());
    c->options.batchSize = config.batchSize;
    c->options.durable = false;
    c->options.retention.enabled = false;
    c->options.clock = [] { return kTime; };
    // Every idle step sweeps for owed versions (time does not move here): the re-emission of
    // what a crashed consumer left owed is explored too.
    c->options.reemitOwedAfter = std::chrono::milliseconds(0);
    Consumer* self = c.get();
    c->options.faultHook = [this, self](FaultPoint p) {
      static constexpr Site kSites[] = {Site::kInHandler, Site::kBeforeCommit, Site::kAfterCommit,
                                        Site::kAfterPublish, Site::kBeforeAck};
      yield(*self, kSites[static_cast<int>(p)]);
    };
    c->crashesLeft = config.crashes;
    for (const auto& handler : c->handlers->all()) {
      if (!handler->replayOnly) transport_->subscribe(c->endpoint, handler->messageType);
    }
    consumers_.push_back(std::move(c));
  }
  inject(head, increment(head, "m1", "a", 1, 1));
  inject(head, increment(head, "m2", "a", 2, 2));
  inject(head, ping(head, "m3", "b"));
}

World::~World() = default;

void World::inject(const std::string& endpoint, Bytes envelope) {
  Message m = messageOf(std::move(envelope));
  knownIds.insert(m.id);
  routed[endpoint].insert(m.id);
  ready[endpoint].push_back(std::move(m));
}

Command World::yield(Consumer& c, Site site, std::size_t pending) {
  // Silent points (docs/exploration.md, "Reduction"): a switch or a whole crash there is the
  // same as at the consumer's previous choice point, since only its own memory changed since.
  // What remains: a crash part-way through a publish. kInHandler is the same crash as
  // kBeforeCommit (the transaction's writes are discarded either way).
  if (site == Site::kInHandler && config.mergeSilent) {
    if (budget(c) > 0) ++execution_.silentStops;
    return {};
  }
  if (site == Site::kBeforeCommit && budget(c) == 0) {
    c.touched = true;  // the commit follows
    return {};
  }
  const bool silent = config.mergeSilent && !inTransaction(site) && !c.touched;
  if (silent && !(site == Site::kPublish && pending > 1 && budget(c) > 0)) {
    ++execution_.silentStops;
    return {};
  }
  std::unique_lock lock(mu_);
  c.silent = silent;
  c.site = site;
  c.pending = pending;
  c.parked = true;
  if (c.inBatch) ++c.step;
  lastParked_ = c.index;
  turn_ = -1;
  cv_.notify_one();
  c.wake.wait(lock, [&] { return turn_ == c.index; });
  c.parked = false;
  if (!inTransaction(site)) c.touched = false;
  if (site == Site::kBeforeCommit) c.touched = true;  // the commit follows
  const Command cmd = c.command;
  if (cmd.kind == Command::kStop) throw Stop{};
  if (cmd.kind == Command::kCrash) throw SimulatedCrash{siteName(site)};
  return cmd;
}

void World::processBatch(Consumer& c) {
  // Endpoint::processBatch (framework/endpoint.cpp), step for step.
  std::vector<Delivery> batch = transport_->receive(c.endpoint, config.batchSize, {});
  if (config.mutant == Mutant::kAckEarly && !batch.empty()) {
    std::vector<std::uint64_t> tags;
    for (const Delivery& d : batch) tags.push_back(d.tag);
    transport_->ack(c.endpoint, tags);
  }
  if (batch.empty()) {
    c.pipeline->flushPublished();
    if (c.pipeline->reemitOwed(256)) c.pipeline->flushPublished();
  } else {
    c.pipeline->process(batch);
  }
}

void World::consumerMain(Consumer& c) {
  try {
    for (;;) {
      c.pipeline = std::make_unique<detail::Pipeline>(*c.handlers, *transport_, *c.store, c.options,
                                                      c.stats);
      try {
        for (;;) processBatch(c);
      } catch (const SimulatedCrash&) {
        // The process died: its memory is gone and its leases expire (back of the queue).
        c.pipeline.reset();
        c.inBatch = false;
        c.touched = true;
        for (auto it = leases.begin(); it != leases.end();) {
          if (it->second.first == c.index) {
            Message m = std::move(it->second.second);
            ++m.attempt;
            ready[c.endpoint].push_back(std::move(m));
            it = leases.erase(it);
          } else {
            ++it;
          }
        }
      }
    }
  } catch (const Stop&) {
  } catch (const std::exception& e) {
    violation("consumer " + std::to_string(c.index) + " threw: " + e.what());
  } catch (const kj::Exception& e) {
    violation("consumer " + std::to_string(c.index) + " threw: " + e.getDescription().cStr());
  }
  c.pipeline.reset();
  std::lock_guard lock(mu_);
  c.finished = true;
  c.parked = false;
  turn_ = -1;
  cv_.notify_one();
}

bool World::blocked(const Consumer& c) {
  if (c.finished) return true;
  if (c.site != Site::kReceive) return false;
  auto q = ready.find(c.endpoint);
  const bool empty = q == ready.end() || q->second.empty();
  return empty && c.pipeline->confirmedForTest().empty() && !c.pipeline->owedSweepingForTest();
}

Digest World::storeDigest(const std::string& endpoint) {
  store::VersionStore& store = *stores_.at(endpoint);
  Hasher h;
  store.read([&](store::Txn& txn) {
    store.forEachEntity(txn, 0, [&](std::uint64_t entity, const store::EntityName& name) {
      h.add(entity);
      h.add(name.entityType);
      h.add(name.key);
      const std::uint64_t head = store.headVersion(txn, entity);
      h.add(head);
      for (std::uint64_t v = 1; v <= head; ++v) {
        auto e = store.findHistory(txn, entity, v);
        if (!e) {
          h.add(std::uint64_t{0});
          continue;
        }
        h.add(e->handlerId);
        h.add(std::uint64_t{e->handlerVersion});
        h.add(static_cast<std::uint64_t>(e->recordedAtNs));
        h.add(std::uint64_t{e->outputCount});
        h.add(e->outputDigest.data(), e->outputDigest.size());
        h.add(std::uint64_t{e->stateChanged});
        h.add(e->input);
      }
      for (std::uint64_t v = head;;) {
        auto s = store.findSnapshotAtOrBefore(txn, entity, v);
        if (!s) break;
        h.add(s->version);
        h.add(s->state);
        if (s->version == 0) break;
        v = s->version - 1;
      }
      return true;
    });
    for (const MessageId& id : knownIds) {
      if (auto a = store.findApplied(txn, id)) {
        h.add(id);
        h.add(a->entity);
        h.add(a->version);
        h.add(a->seq);
        h.add(static_cast<std::uint64_t>(a->appliedAtNs.value_or(-1)));
      }
    }
    h.add(std::string_view("unpublished"));
    store.forEachUnpublished(txn, 0, [&](std::uint64_t seq) {
      h.add(seq);
      return true;
    });
  });
  return h.digest();
}

Digest World::pipelineDigest(const Consumer& c) {
  Hasher h;
  if (!c.pipeline) return h.digest();
  for (const std::uint64_t seq : c.pipeline->confirmedForTest()) h.add(seq);
  h.add(std::uint64_t{c.pipeline->owedSweepingForTest()});
  h.add(c.pipeline->owedCursorForTest());
  return h.digest();
}

Digest World::localDigest(const Consumer& c) {
  Hasher h;
  h.add(std::string_view(c.endpoint));
  h.add(static_cast<std::uint64_t>(c.site));
  h.add(c.pending);
  h.add(std::uint64_t{c.crashesLeft});
  h.add(std::uint64_t{c.finished});
  h.add(std::uint64_t{c.silent});
  h.add(pipelineDigest(c));
  if (c.inBatch) {
    h.add(c.basis);
    for (const Digest& d : c.held) h.add(d);
    h.add(std::uint64_t{c.step});
  }
  return h.digest();
}

Digest World::globalDigest() {
  Hasher h;
  for (const std::string& e : endpoints_) h.add(storeDigest(e));
  for (const auto& [endpoint, queue] : ready) {
    h.add(endpoint);
    h.add(queue.size());
    for (const Message& m : queue) h.add(m.digest);
  }
  for (const auto& [id, d] : copies) {
    h.add(id);
    h.add(d);
  }
  h.add(std::string_view("acked"));
  for (const auto& [endpoint, d] : ackedSet) {
    h.add(endpoint);
    h.add(d);
  }
  h.add(std::uint64_t{duplicatesLeft});
  h.add(std::uint64_t{sharedCrashesLeft});
  std::vector<Digest> locals;
  for (const auto& c : consumers_) locals.push_back(localDigest(*c));
  // The two consumers of one endpoint are interchangeable: their states as a multiset.
  if (config.scenario == Scenario::kConsumers) std::sort(locals.begin(), locals.end());
  for (const Digest& d : locals) h.add(d);
  return h.digest();
}

void World::stopAll(std::unique_lock<std::mutex>& lock) {
  for (auto& c : consumers_) {
    if (c->finished) continue;
    c->command = {Command::kStop};
    turn_ = c->index;
    c->wake.notify_one();
    cv_.wait(lock, [&] { return turn_ == -1 && c->finished; });
  }
  lock.unlock();
  for (auto& c : consumers_) c->thread.join();
  lock.lock();
}

Execution World::run() {
  std::unique_lock lock(mu_);
  for (auto& c : consumers_) {
    turn_ = c->index;
    Consumer* self = c.get();
    c->thread = std::thread([this, self] { consumerMain(*self); });
    cv_.wait(lock, [&] { return turn_ == -1; });
  }
  struct Alternative {
    int consumer;
    Command command;
  };
  for (;;) {
    if (!execution_.violations.empty()) {
      execution_.end = Execution::End::kViolation;
      break;
    }
    if (execution_.choices.size() >= config.maxSteps) {
      execution_.end = Execution::End::kStepBound;
      violation("O8: not drained after " + std::to_string(config.maxSteps) + " choice points");
      break;
    }
    std::vector<Alternative> alternatives;
    auto offer = [&](Consumer& c) {
      alternatives.push_back({c.index, {Command::kGo}});
      if (c.silent) {
        for (std::size_t k = 1; k < c.pending; ++k) {
          alternatives.push_back({c.index, {Command::kCrashAfter, k}});
        }
        return;
      }
      if (c.site == Site::kReceive && duplicatesLeft > 0 && !ready[c.endpoint].empty()) {
        alternatives.push_back({c.index, {Command::kDupFront}});
        alternatives.push_back({c.index, {Command::kDupBack}});
      }
      if (budget(c) > 0) {
        alternatives.push_back({c.index, {Command::kCrash}});
        if (c.site == Site::kPublish) {
          for (std::size_t k = 1; k < c.pending; ++k) {
            alternatives.push_back({c.index, {Command::kCrashAfter, k}});
          }
        }
      }
    };
    Consumer* last =
        lastParked_ >= 0 ? consumers_[static_cast<std::size_t>(lastParked_)].get() : nullptr;
    const bool insideTxn = last && last->parked && (inTransaction(last->site) || last->silent);
    if (insideTxn) {
      offer(*last);  // never switch inside a write transaction: only go on or crash
    } else {
      for (auto& c : consumers_) {
        if (!blocked(*c)) offer(*c);
      }
    }
    if (alternatives.empty()) {
      execution_.end = Execution::End::kDrained;
      break;
    }
    std::optional<Digest> state;
    if (!insideTxn && chooser_.wantsState()) state = globalDigest();
    const std::optional<std::size_t> pick = chooser_.choose(alternatives.size(), state);
    if (!pick) {
      execution_.end = Execution::End::kCut;
      break;
    }
    const Alternative& alt = alternatives.at(*pick);
    Consumer& c = *consumers_[static_cast<std::size_t>(alt.consumer)];
    execution_.choices.push_back(*pick);
    static constexpr const char* kKinds[] = {"go",        "crash",    "crash-after",
                                             "dup-front", "dup-back", "stop"};
    std::string what =
        "c" + std::to_string(c.index) + " " + kKinds[alt.command.kind] + " at " + siteName(c.site);
    if (alt.command.kind == Command::kCrashAfter) what += " " + std::to_string(alt.command.after);
    execution_.trace.push_back(std::move(what));
    if (alt.command.kind == Command::kCrash || alt.command.kind == Command::kCrashAfter) {
      --budget(c);
    }
    c.command = alt.command;
    turn_ = c.index;
    c.wake.notify_one();
    cv_.wait(lock, [&] { return turn_ == -1; });
  }
  stopAll(lock);
  lock.unlock();
  consumers_.clear();
  if (execution_.end == Execution::End::kDrained) finalOracles();
  return std::move(execution_);
}

void World::finalOracles() {
  // O8: drained means nothing queued or leased, and every input routed to an endpoint applied.
  if (!leases.empty()) violation("O8: leases outstanding at the end");
  for (const auto& [endpoint, queue] : ready) {
    if (!queue.empty()) violation("O8: " + endpoint + " queue not empty at the end");
  }
  for (const auto& [endpoint, ids] : routed) {
    store::VersionStore& store = *stores_.at(endpoint);
    store.read([&](store::Txn& txn) {
      for (const MessageId& id : ids) {
        if (!store.findApplied(txn, id)) {
          violation("O5/O8: " + endpoint + " never applied " + id.toHex());
        }
      }
    });
  }
  stores_.clear();  // checkOracles opens the stores itself
  std::vector<test::StoreUnderTest> under;
  for (const std::string& e : endpoints_) under.push_back({e, dir_ / e, factories_[e]});
  test::OracleReport report = test::checkOracles(under, copyList, ackedList);
  for (std::string& v : report.violations) violation(std::move(v));
  if (!execution_.violations.empty()) execution_.end = Execution::End::kViolation;
}

}  // namespace

Execution runExecution(const Config& config, Chooser& chooser) {
  World world(config, chooser);
  return world.run();
}

}  // namespace idem::explore
