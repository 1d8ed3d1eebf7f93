// NatsPartitionGroup: heartbeats, balance, take/claim/restore/serve/release of partitions.
#include "idem/nats_group.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "framework/nats_changelog.h"
#include "framework/nats_client.h"
#include "framework/nats_layout.h"
#include "framework/nats_ownership.h"
#include "idem/error.h"
#include "store/version_store.h"

namespace idem {

using namespace detail::nats;

namespace {

using Clock = std::chrono::steady_clock;

std::string memberKey(std::string_view endpoint, std::string_view member) {
  return std::string(endpoint) + "." + std::string(member);
}

}  // namespace

std::string defaultMemberName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::string name;
  for (const char* c = host; *c != '\0' && name.size() < 40; ++c) {
    const bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                    (*c >= '0' && *c <= '9') || *c == '_' || *c == '-';
    name += ok ? *c : '_';
  }
  if (name.empty()) name = "host";
  return name + "-" + std::to_string(::getpid());
}

struct NatsPartitionGroup::Impl {
  struct Added {
    std::string endpoint;
    std::function<Handlers()> handlers;
    std::function<EndpointOptions(std::uint32_t)> optionsFor;
  };
  // One partition this member serves.
  struct Running {
    std::string endpoint;
    std::uint32_t partition = 0;
    Owner owner;
    std::uint64_t restoredRecords = 0;
    std::unique_ptr<ChangelogWriter> writer;
    std::unique_ptr<NatsPartition> view;
    std::unique_ptr<Endpoint> served;
    std::atomic<bool> finished{false};
    std::exception_ptr failure;
    std::jthread thread;  // last: joined first
  };
  // What this member knows of another's heartbeat.
  struct Seen {
    std::uint64_t revision = 0;
    Clock::time_point changedAt;
  };

  Impl(NatsTransport& n, NatsGroupOptions o)
      : nats(n),
        options(std::move(o)),
        connection(connect(nats.options())),
        js(jetStream(connection.get(), nats.options().publishTimeout)),
        owners(js.get(), nats.options().replicas),
        members(openBucket(js.get(), kMemberBucket, nats.options().replicas, "member bucket")),
        startedAt(Clock::now()) {
    if (!validMemberName(options.member)) {
      fail(ErrorKind::kPermanent,
           "NatsGroupOptions::member must match [A-Za-z0-9_-]{1,64}: '" + options.member + "'");
    }
    if (options.lease <= std::chrono::milliseconds::zero()) {
      fail(ErrorKind::kPermanent, "NatsGroupOptions::lease must be positive");
    }
    if (options.heartbeat <= std::chrono::milliseconds::zero())
      options.heartbeat = options.lease / 4;
  }

  void heartbeat(const std::string& endpoint) {
    const std::string key = memberKey(endpoint, options.member);
    const std::string value = std::to_string(++beats);
    std::uint64_t revision = 0;
    check(kvStore_PutString(&revision, members.get(), key.c_str(), value.c_str()),
          "heartbeat " + key);
  }

  // The keys of `endpoint`'s group in the member bucket ("E.<member>"), deleted ones included.
  // Read from the bucket stream's per-subject state, not with kvStore_Keys(): that creates and
  // destroys a watcher, and nats.c before 3.6 can crash its read loop when a subscription is
  // destroyed while a message for it arrives (nats-io/nats.c#637), which every other member's
  // heartbeat makes likely.
  std::vector<std::string> memberKeys(const std::string& endpoint) {
    const std::string bucketSubjects = std::string("$KV.") + kMemberBucket + ".";
    const std::string filter = bucketSubjects + endpoint + ".>";
    jsOptions o;
    check(jsOptions_Init(&o), "options");
    o.Stream.Info.SubjectsFilter = filter.c_str();
    jsStreamInfo* raw = nullptr;
    jsErrCode error = static_cast<jsErrCode>(0);
    const std::string stream = std::string("KV_") + kMemberBucket;
    check(js_GetStreamInfo(&raw, js.get(), stream.c_str(), &o, &error), "listing the group members",
          error);
    StreamInfoPtr info(raw);
    std::vector<std::string> keys;
    if (const jsStreamStateSubjects* subjects = info->State.Subjects; subjects != nullptr) {
      for (int i = 0; i < subjects->Count; ++i) {
        const std::string_view subject = subjects->List[i].Subject;
        if (subject.starts_with(bucketSubjects))
          keys.emplace_back(subject.substr(bucketSubjects.size()));
      }
    }
    return keys;
  }

  // The live members of `endpoint`'s group, sorted; this member always among them.
  std::vector<std::string> liveMembers(const std::string& endpoint) {
    const std::vector<std::string> keys = memberKeys(endpoint);
    const std::string prefix = endpoint + ".";
    const auto now = Clock::now();
    std::vector<std::string> live{options.member};
    for (const std::string& key : keys) {
      if (!key.starts_with(prefix)) continue;
      const std::string member = key.substr(prefix.size());
      if (member == options.member) continue;
      kvEntry* raw = nullptr;
      if (kvStore_Get(&raw, members.get(), key.c_str()) != NATS_OK) continue;
      KvEntryPtr entry(raw);
      Seen& seen = heartbeats[key];
      const std::uint64_t revision = kvEntry_Revision(entry.get());
      if (revision != seen.revision) seen = {revision, now};
      if (now - seen.changedAt < options.lease) live.push_back(member);
    }
    std::sort(live.begin(), live.end());
    return live;
  }

  bool isLive(const std::string& endpoint, const std::string& member,
              const std::vector<std::string>& live) const {
    if (std::find(live.begin(), live.end(), member) != live.end()) return true;
    // Never seen since this member started: give it a lease to show up.
    return !heartbeats.contains(memberKey(endpoint, member)) &&
           Clock::now() - startedAt < options.lease;
  }

  // Takes, claims, restores and starts partition `p` of `added`; false when another member got
  // there first or the claim was refused.
  bool start(const Added& added, std::uint32_t p, const std::optional<Owner>& seen) {
    const std::string& endpoint = added.endpoint;
    auto taken = owners.take(endpoint, p, options.member, seen);
    if (!taken) return false;
    auto run = std::make_unique<Running>();
    run->endpoint = endpoint;
    run->partition = p;
    run->owner = *taken;
    run->writer =
        std::make_unique<ChangelogWriter>(js.get(), endpoint, p, taken->epoch, options.member,
                                          natsConnection_GetMaxPayload(connection.get()));
    ensureChangelogStream(js.get(), endpoint, nats.options().replicas);
    std::uint64_t through = 0;
    try {
      through = run->writer->claim();
    } catch (const Error& e) {
      spdlog::warn("{}.p{}: epoch {} not claimed: {}", endpoint, p, taken->epoch, e.what());
      return false;
    }
    EndpointOptions endpointOptions = added.optionsFor(p);
    // The local store may hold versions the changelog lacks (a batch whose append failed or
    // never ran): the changelog is the partition's state, so the store starts empty.
    std::filesystem::remove_all(endpointOptions.storeDirectory);
    const auto began = Clock::now();
    {
      store::StoreOptions so;
      so.initialMapBytes = endpointOptions.initialMapBytes;
      so.durable = endpointOptions.durable;
      store::VersionStore restored(endpointOptions.storeDirectory, endpoint, so);
      const RestoreCounts counts =
          restoreFromChangelog(connection.get(), js.get(), endpoint, p, through, restored);
      run->restoredRecords = counts.records;
      spdlog::info(
          "{}.p{}: owner with epoch {} (claim at changelog sequence {}); restored {} "
          "versions from {} changelog messages ({} bytes) in {} ms",
          endpoint, p, taken->epoch, through, counts.records, counts.messages, counts.bytes,
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - began).count());
    }
    ChangelogWriter* writer = run->writer.get();
    endpointOptions.afterCommit = [writer](const store::VersionStore& store,
                                           std::span<const CommittedRecord> records) {
      writer->append(store, records);
    };
    run->view = std::make_unique<NatsPartition>(nats, p);
    run->served = std::make_unique<Endpoint>(added.handlers(), *run->view, endpointOptions);
    Running* raw = run.get();
    run->thread = std::jthread([raw](std::stop_token stop) {
      try {
        raw->served->run(stop);
      } catch (...) {
        raw->failure = std::current_exception();
      }
      raw->finished = true;
    });
    std::lock_guard guard(lock);
    running.push_back(std::move(run));
    return true;
  }

  // Stops a running partition (it drains its batch); gives it back when `release`.
  void stop(Running& run, bool release) {
    run.thread.request_stop();
    if (run.thread.joinable()) run.thread.join();
    if (release && !run.writer->stopped()) {
      try {
        owners.release(run.endpoint, run.partition, run.owner);
      } catch (const Error& e) {
        spdlog::warn("{}.p{}: not released ({}); it moves after the lease", run.endpoint,
                     run.partition, e.what());
      }
    }
  }

  void forget(Running* run) {
    std::lock_guard guard(lock);
    std::erase_if(running, [run](const std::unique_ptr<Running>& r) { return r.get() == run; });
  }

  Running* find(const std::string& endpoint, std::uint32_t p) {
    std::lock_guard guard(lock);
    for (auto& r : running) {
      if (r->endpoint == endpoint && r->partition == p) return r.get();
    }
    return nullptr;
  }

  // One round for one endpoint: heartbeat, drop what stopped or moved, take what is ours.
  void round(const Added& added) {
    const std::string& endpoint = added.endpoint;
    heartbeat(endpoint);
    const std::vector<std::string> live = liveMembers(endpoint);
    const std::uint32_t count = nats.partitionCount(endpoint);
    for (std::uint32_t p = 0; p < count; ++p) {
      const bool mine = options.partitions.empty()
                            ? live[p % live.size()] == options.member
                            : std::find(options.partitions.begin(), options.partitions.end(), p) !=
                                  options.partitions.end();
      Running* run = find(endpoint, p);
      if (run != nullptr && run->finished) {
        stop(*run, false);
        if (run->writer->stopped()) {
          spdlog::warn("{}.p{}: epoch {} fenced or its changelog failed: no longer served here",
                       endpoint, p, run->owner.epoch);
        } else if (run->failure) {
          try {
            std::rethrow_exception(run->failure);
          } catch (const std::exception& e) {
            spdlog::error("{}.p{}: endpoint stopped: {}", endpoint, p, e.what());
          }
        }
        forget(run);
        run = nullptr;
      }
      const std::optional<Owner> owner = owners.read(endpoint, p);
      if (run != nullptr) {
        const bool stillOwner =
            owner && owner->member == options.member && owner->epoch == run->owner.epoch;
        if (!stillOwner) {
          spdlog::warn("{}.p{}: taken over (epoch {} by {}): stops serving it at once", endpoint, p,
                       owner ? owner->epoch : 0, owner ? owner->member : std::string("?"));
          stop(*run, false);
          forget(run);
        } else if (!mine) {
          spdlog::info("{}.p{}: rebalanced away from this member: draining and releasing", endpoint,
                       p);
          stop(*run, true);
          forget(run);
        }
        continue;
      }
      if (!mine) continue;
      const bool free = !owner || owner->member.empty() || owner->member == options.member ||
                        !options.partitions.empty() || !isLive(endpoint, owner->member, live);
      if (free) start(added, p, owner);
    }
  }

  NatsTransport& nats;
  NatsGroupOptions options;
  ConnectionPtr connection;
  JsCtxPtr js;
  OwnerTable owners;
  KvStorePtr members;
  Clock::time_point startedAt;
  std::uint64_t beats = 0;
  std::map<std::string, Seen> heartbeats;
  std::vector<Added> endpoints;
  mutable std::mutex lock;  // guards `running` (served() reads it from other threads)
  std::vector<std::unique_ptr<Running>> running;
};

NatsPartitionGroup::NatsPartitionGroup(NatsTransport& nats, NatsGroupOptions options)
    : impl_(std::make_unique<Impl>(nats, std::move(options))) {}

NatsPartitionGroup::~NatsPartitionGroup() {
  for (auto& run : impl_->running) impl_->stop(*run, false);
}

void NatsPartitionGroup::add(std::string endpoint, std::function<Handlers()> handlers,
                             std::function<EndpointOptions(std::uint32_t)> optionsFor) {
  requireEndpointName(endpoint);
  impl_->endpoints.push_back({std::move(endpoint), std::move(handlers), std::move(optionsFor)});
}

void NatsPartitionGroup::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    const auto began = Clock::now();
    for (const Impl::Added& added : impl_->endpoints) {
      try {
        impl_->round(added);
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::kBug) throw;
        spdlog::warn("group round for {} not completed: {}", added.endpoint, e.what());
      }
    }
    while (!stop.stop_requested() && Clock::now() - began < impl_->options.heartbeat) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  std::vector<Impl::Running*> all;
  {
    std::lock_guard guard(impl_->lock);
    for (auto& r : impl_->running) all.push_back(r.get());
  }
  for (Impl::Running* r : all) impl_->stop(*r, true);
  std::lock_guard guard(impl_->lock);
  impl_->running.clear();
}

std::vector<ServedPartition> NatsPartitionGroup::served() const {
  std::lock_guard guard(impl_->lock);
  std::vector<ServedPartition> out;
  for (const auto& r : impl_->running) {
    if (r->finished) continue;
    out.push_back({r->endpoint, r->partition, r->owner.epoch,
                   r->endpoint + ".p" + std::to_string(r->partition), r->served->stats(),
                   r->restoredRecords});
  }
  return out;
}

}  // namespace idem
