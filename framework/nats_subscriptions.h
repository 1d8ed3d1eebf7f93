// SubscriptionTable: who receives the published messages of each type, kept in the KV bucket
// idem_subscriptions (framework/nats_layout.h) and mirrored here by a watcher, so that publish()
// routes without a round trip.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "framework/nats_client.h"

namespace idem::detail::nats {

class SubscriptionTable {
 public:
  // Binds the bucket (creating it with `replicas` when absent), starts watching it and waits up
  // to `wait` for every existing subscription. `js` must outlive the table. Throws idem::Error.
  SubscriptionTable(jsCtx* js, int replicas, std::chrono::milliseconds wait);
  // Stops the watcher.
  ~SubscriptionTable();
  SubscriptionTable(const SubscriptionTable&) = delete;
  SubscriptionTable& operator=(const SubscriptionTable&) = delete;

  // Records the subscription in the bucket (once per process) and here. Throws idem::Error.
  void add(std::uint64_t messageType, std::string_view endpoint);
  // The endpoints subscribed to `messageType`, as last seen. Thread-safe.
  std::vector<std::string> subscribers(std::uint64_t messageType) const;

 private:
  void watch(const std::stop_token& stop);
  void apply(kvEntry* entry);

  KvStorePtr kv_;
  kvWatcher* watcher_ = nullptr;
  mutable std::mutex lock_;
  std::condition_variable loaded_;
  bool initialLoaded_ = false;
  std::map<std::uint64_t, std::set<std::string>> subscribers_;
  std::set<std::string> written_;  // keys this process put
  std::jthread thread_;
};

}  // namespace idem::detail::nats
