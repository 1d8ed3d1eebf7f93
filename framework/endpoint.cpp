// Endpoint: wires a store, handlers and a transport around the Pipeline, and runs it.
#include "idem/endpoint.h"

#include <spdlog/spdlog.h>

#include <mutex>
#include <thread>

#include "framework/pipeline.h"
#include "idem/error.h"
#include "store/lmdb_env.h"
#include "store/version_store.h"

namespace idem {

const char* toString(FaultPoint point) noexcept {
  switch (point) {
    case FaultPoint::kInHandler:
      return "in-handler";
    case FaultPoint::kBeforeCommit:
      return "before-commit";
    case FaultPoint::kAfterCommit:
      return "after-commit";
    case FaultPoint::kAfterPublish:
      return "after-publish";
    case FaultPoint::kBeforeAck:
      return "before-ack";
  }
  return "unknown";
}

namespace {
// Versions reemitOwed() replays per idle step.
constexpr std::size_t kOwedPerIdleStep = 256;

store::StoreOptions storeOptions(const EndpointOptions& options) {
  store::StoreOptions s;
  s.initialMapBytes = options.initialMapBytes;
  s.durable = options.durable;
  return s;
}
}  // namespace

struct Endpoint::Impl {
  Impl(Handlers h, Transport& t, EndpointOptions o)
      : handlers(std::move(h)),
        transport(t),
        options(std::move(o)),
        store(options.storeDirectory, handlers.endpointName(), storeOptions(options)),
        pipeline(handlers, transport, store, options, stats) {}

  Handlers handlers;
  Transport& transport;
  EndpointOptions options;
  EndpointStats stats;  // the pipeline's, touched by the thread running the endpoint only
  mutable std::mutex statsLock;
  EndpointStats statsSnapshot;  // copied after each batch, for stats() on other threads
  store::VersionStore store;
  detail::Pipeline pipeline;
  // When the endpoint last handled a batch (steady clock); idle steps record confirmations once
  // it is recordConfirmedAfter old.
  std::chrono::steady_clock::time_point lastBatch = std::chrono::steady_clock::now();

  // Makes the counters as of now (the pipeline's and the store's) what stats() returns.
  void publishStats() {
    const store::LmdbCounters costs = store.counters();
    stats.storeCommits = costs.commits;
    stats.storeSyncs = costs.syncs;
    stats.storePagesWritten = costs.pagesWritten;
    std::lock_guard lock(statsLock);
    statsSnapshot = stats;
  }
};

Endpoint::Endpoint(Handlers handlers, Transport& transport, EndpointOptions options) {
  if (options.batchSize == 0) fail(ErrorKind::kBug, "EndpointOptions::batchSize must be > 0");
  if (options.snapshotEvery == 0)
    fail(ErrorKind::kBug, "EndpointOptions::snapshotEvery must be > 0");
  const RetentionPolicy& retention = options.retention;
  if (retention.enabled &&
      (retention.historyHorizon.count() < 0 || retention.appliedHorizon.count() < 0 ||
       retention.recordsPerBatch == 0)) {
    fail(ErrorKind::kBug, "EndpointOptions::retention: horizons must be >= 0, recordsPerBatch > 0");
  }
  impl_ = std::make_unique<Impl>(std::move(handlers), transport, std::move(options));
  for (const auto& handler : impl_->handlers.all()) {
    if (handler->replayOnly) continue;
    transport.subscribe(impl_->handlers.endpointName(), handler->messageType);
  }
}

Endpoint::~Endpoint() = default;

const std::string& Endpoint::name() const { return impl_->handlers.endpointName(); }

std::size_t Endpoint::processBatch() {
  // The batch the last settle leased, else what is queued now (the bus returns at once when
  // anything is; it waits batchWait only when nothing is).
  std::vector<Delivery> batch = impl_->pipeline.takeLeasedNext();
  if (batch.empty()) {
    batch = impl_->transport.receive(name(), impl_->options.batchSize, impl_->options.batchWait);
  }
  const auto now = std::chrono::steady_clock::now();
  if (batch.empty()) {
    // Idle: once idle for a while, record what was confirmed (so that the owed sweep sees only
    // what nobody confirmed), then re-emit what a dead process left owed. A busy endpoint
    // records confirmations in its next batch's commit instead; flushPublished() writes only
    // when something is unrecorded, so an idle endpoint pays one commit, not one per poll.
    const bool sweep = impl_->pipeline.owedSweepDue();
    if (sweep || now - impl_->lastBatch >= impl_->options.recordConfirmedAfter) {
      impl_->pipeline.flushPublished();
    }
    if (sweep) {
      impl_->pipeline.reemitOwed(kOwedPerIdleStep);
      impl_->pipeline.flushPublished();  // what it re-emitted
    }
  } else {
    impl_->pipeline.process(batch);
    impl_->lastBatch = now;
  }
  impl_->publishStats();
  return batch.size();
}

void Endpoint::run(std::stop_token stop) {
  std::chrono::milliseconds backoff{0};
  while (!stop.stop_requested()) {
    try {
      processBatch();
      backoff = std::chrono::milliseconds{0};
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kBug || e.kind() == ErrorKind::kPermanent) {
        spdlog::critical("endpoint {} stops: {}", name(), e.what());
        throw;
      }
      backoff = std::min(std::chrono::milliseconds{5000},
                         std::max(std::chrono::milliseconds{10}, backoff * 2));
      spdlog::warn("endpoint {}: batch not completed ({}: {}); retrying in {} ms", name(),
                   toString(e.kind()), e.what(), backoff.count());
      std::this_thread::sleep_for(backoff);
    }
  }
  // Drain: a batch leased while settling the last one is processed, not left to its lease
  // timeout; nothing further is leased.
  impl_->pipeline.leaseNextWhileSettling(false);
  try {
    processLeasedNext();
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kBug || e.kind() == ErrorKind::kPermanent) throw;
    spdlog::warn(
        "endpoint {}: the batch leased last was not completed at shutdown ({}); it is "
        "delivered again when its lease runs out",
        name(), e.what());
  }
  impl_->pipeline.flushPublished();
}

void Endpoint::processLeasedNext() {
  std::vector<Delivery> batch = impl_->pipeline.takeLeasedNext();
  if (batch.empty()) return;
  impl_->pipeline.process(batch);
  impl_->publishStats();
}

EndpointStats Endpoint::stats() const {
  std::lock_guard lock(impl_->statsLock);
  return impl_->statsSnapshot;
}

}  // namespace idem
