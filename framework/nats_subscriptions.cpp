// SubscriptionTable: the KV bucket of subscriptions and its watcher thread.
#include "framework/nats_subscriptions.h"

#include <spdlog/spdlog.h>

#include "framework/nats_layout.h"

namespace idem::detail::nats {

namespace {
constexpr std::int64_t kWatchSliceMs = 200;  // how often the watcher looks at its stop token
}

SubscriptionTable::SubscriptionTable(jsCtx* js, int replicas, std::chrono::milliseconds wait)
    : kv_(openBucket(js, kSubscriptionBucket, replicas, "subscription bucket")) {
  check(kvStore_WatchAll(&watcher_, kv_.get(), nullptr), "watching the subscription bucket");
  thread_ = std::jthread([this](const std::stop_token& stop) { watch(stop); });
  std::unique_lock guard(lock_);
  if (!loaded_.wait_for(guard, wait, [this] { return initialLoaded_; })) {
    guard.unlock();
    thread_.request_stop();
    kvWatcher_Stop(watcher_);
    thread_.join();
    kvWatcher_Destroy(watcher_);
    fail(ErrorKind::kTransient,
         "the subscription bucket did not load within " + std::to_string(wait.count()) + " ms");
  }
}

SubscriptionTable::~SubscriptionTable() {
  thread_.request_stop();
  kvWatcher_Stop(watcher_);
  if (thread_.joinable()) thread_.join();
  kvWatcher_Destroy(watcher_);
}

void SubscriptionTable::watch(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    kvEntry* raw = nullptr;
    const natsStatus s = kvWatcher_Next(&raw, watcher_, kWatchSliceMs);
    if (s == NATS_TIMEOUT) continue;
    if (s != NATS_OK) {
      if (!stop.stop_requested()) spdlog::warn("subscription watcher: {}", natsStatus_GetText(s));
      return;
    }
    KvEntryPtr entry(raw);
    std::lock_guard guard(lock_);
    if (!entry) {  // every value that existed when the watch began has been seen
      initialLoaded_ = true;
      loaded_.notify_all();
      continue;
    }
    apply(entry.get());
  }
}

void SubscriptionTable::apply(kvEntry* entry) {
  std::uint64_t type = 0;
  std::string endpoint;
  if (!parseSubscriptionKey(kvEntry_Key(entry), type, endpoint)) return;
  if (kvEntry_Operation(entry) == kvOp_Put) {
    subscribers_[type].insert(endpoint);
  } else {
    subscribers_[type].erase(endpoint);
  }
}

void SubscriptionTable::add(std::uint64_t messageType, std::string_view endpoint) {
  const std::string key = subscriptionKey(messageType, endpoint);
  {
    std::lock_guard guard(lock_);
    if (written_.contains(key)) return;
  }
  std::uint64_t revision = 0;
  check(kvStore_PutString(&revision, kv_.get(), key.c_str(), "1"), "subscribing " + key);
  std::lock_guard guard(lock_);
  written_.insert(key);
  subscribers_[messageType].insert(std::string(endpoint));
}

std::vector<std::string> SubscriptionTable::subscribers(std::uint64_t messageType) const {
  std::lock_guard guard(lock_);
  auto it = subscribers_.find(messageType);
  if (it == subscribers_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

}  // namespace idem::detail::nats
