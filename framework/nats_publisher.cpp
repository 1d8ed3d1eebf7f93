// Publisher: a pool of JetStream contexts, each counting the PubAcks of one publishAll() call.
#include "framework/nats_publisher.h"

#include <condition_variable>
#include <string>

namespace idem::detail::nats {

namespace {
// After the pending list was taken back, callbacks already running finish within this.
constexpr std::chrono::milliseconds kSettleGrace{1000};
}  // namespace

struct Publisher::Slot {
  std::mutex lock;
  std::condition_variable changed;
  std::size_t acked = 0;
  std::size_t failed = 0;
  std::size_t discarded = 0;
  std::string firstError;
  bool poisoned = false;  // a callback may still arrive: never reused
  JsCtxPtr js;            // last member: destroyed first, while the counters still exist

  std::size_t settled() const { return acked + failed + discarded; }
  void fail(std::string what) {
    ++failed;
    if (firstError.empty()) firstError = std::move(what);
  }
};

namespace {

void onPubAck(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* closure) {
  auto* slot = static_cast<Publisher::Slot*>(closure);
  {
    std::lock_guard guard(slot->lock);
    if (ack != nullptr) {
      ++slot->acked;
    } else {
      std::string what = natsMsg_GetSubject(msg);
      what += ": ";
      what += error != nullptr && error->ErrText != nullptr ? error->ErrText
              : error != nullptr                            ? natsStatus_GetText(error->Err)
                                                            : "no acknowledgement";
      slot->fail(std::move(what));
    }
  }
  slot->changed.notify_all();
  natsMsg_Destroy(msg);
}

}  // namespace

Publisher::Publisher(natsConnection* nc, std::chrono::milliseconds timeout)
    : nc_(nc), timeout_(timeout) {}

Publisher::~Publisher() {
  for (auto& slot : slots_) slot->js.reset();
}

Publisher::Slot& Publisher::take() {
  std::lock_guard guard(lock_);
  if (!free_.empty()) {
    Slot* slot = free_.back();
    free_.pop_back();
    return *slot;
  }
  auto slot = std::make_unique<Slot>();
  slot->js = jetStream(nc_, timeout_, onPubAck, slot.get());
  slots_.push_back(std::move(slot));
  return *slots_.back();
}

void Publisher::give(Slot& slot) {
  if (slot.poisoned) return;
  std::lock_guard guard(lock_);
  free_.push_back(&slot);
}

void Publisher::publishAll(std::vector<MsgPtr> messages) {
  if (messages.empty()) return;
  Slot& slot = take();
  {
    std::lock_guard guard(slot.lock);
    slot.acked = slot.failed = slot.discarded = 0;
    slot.firstError.clear();
  }
  const std::size_t total = messages.size();
  for (MsgPtr& message : messages) {
    natsMsg* raw = message.release();
    const natsStatus s = js_PublishMsgAsync(slot.js.get(), &raw, nullptr);
    if (raw != nullptr) {  // not taken by the library
      std::lock_guard guard(slot.lock);
      slot.fail(std::string(natsMsg_GetSubject(raw)) + ": " + natsStatus_GetText(s));
      natsMsg_Destroy(raw);
    }
  }

  std::unique_lock guard(slot.lock);
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  bool timedOut =
      !slot.changed.wait_until(guard, deadline, [&] { return slot.settled() == total; });
  if (timedOut) {
    // Take back what is still unacknowledged: no callback will come for those.
    guard.unlock();
    natsMsgList pending{};
    if (js_PublishAsyncGetPendingList(&pending, slot.js.get()) == NATS_OK) {
      guard.lock();
      slot.discarded = static_cast<std::size_t>(pending.Count);
      guard.unlock();
      natsMsgList_Destroy(&pending);
    }
    guard.lock();
    if (!slot.changed.wait_for(guard, kSettleGrace, [&] { return slot.settled() == total; })) {
      slot.poisoned = true;
    }
  }
  const std::size_t failed = slot.failed;
  const std::size_t acked = slot.acked;
  const std::string firstError = slot.firstError;
  guard.unlock();
  give(slot);
  if (timedOut) {
    fail(ErrorKind::kTransient, "JetStream acknowledged " + std::to_string(acked) + " of " +
                                    std::to_string(total) + " publishes within " +
                                    std::to_string(timeout_.count()) + " ms" +
                                    (firstError.empty() ? "" : "; first failure: " + firstError));
  }
  if (failed > 0) {
    fail(ErrorKind::kTransient, "JetStream refused " + std::to_string(failed) + " of " +
                                    std::to_string(total) + " publishes; first: " + firstError);
  }
}

}  // namespace idem::detail::nats
