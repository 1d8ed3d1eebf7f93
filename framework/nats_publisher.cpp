// Publisher: a pool of JetStream contexts, each counting the PubAcks of one publishAll() call.
#include "framework/nats_publisher.h"

#include <condition_variable>
#include <string>

#include "framework/nats_layout.h"

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
  std::size_t permanent = 0;   // failures that no retry can repair (kindOf: kPermanent)
  std::size_t overloaded = 0;  // failures that backing off may repair
  std::string firstError;
  std::string firstPermanent;
  bool poisoned = false;  // a callback may still arrive: never reused
  JsCtxPtr js;            // last member: destroyed first, while the counters still exist

  std::size_t settled() const { return acked + failed + discarded; }
  void fail(ErrorKind kind, std::string what) {
    ++failed;
    if (kind == ErrorKind::kPermanent) {
      ++permanent;
      if (firstPermanent.empty()) firstPermanent = what;
    }
    if (kind == ErrorKind::kOverloaded) ++overloaded;
    if (firstError.empty()) firstError = std::move(what);
  }
};

namespace {

// "<subject> (Nats-Msg-Id <id>): <what>", naming the message a failure is about.
std::string describe(natsMsg* msg, std::string_view what) {
  std::string text = natsMsg_GetSubject(msg);
  const std::string id = headerText(msg, kMsgIdHeader);
  if (!id.empty()) text += " (" + std::string(kMsgIdHeader) + " " + id + ")";
  text += ": ";
  text += what;
  return text;
}

void onPubAck(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* closure) {
  auto* slot = static_cast<Publisher::Slot*>(closure);
  {
    std::lock_guard guard(slot->lock);
    if (ack != nullptr) {
      ++slot->acked;
    } else if (error == nullptr) {
      slot->fail(ErrorKind::kTransient, describe(msg, "no acknowledgement"));
    } else {
      // NATS_NO_RESPONDERS (no stream takes the subject) stays transient: idem creates its
      // streams on demand, and NatsTransport::publish forgets which streams it knows after a
      // failure, so the retry re-creates a deleted stream (nats_transport.cpp).
      const char* text =
          error->ErrText != nullptr ? error->ErrText : natsStatus_GetText(error->Err);
      std::string what = text;
      if (error->ErrCode != 0) what += " (JetStream error " + std::to_string(error->ErrCode) + ")";
      slot->fail(kindOf(error->Err, error->ErrCode, text), describe(msg, what));
    }
    // Under the lock: once it is released, publishAll() may return and the slot (condition
    // variable included) be destroyed with its Publisher, before a notify after the unlock ran
    // (ThreadSanitizer caught exactly that in nats_test).
    slot->changed.notify_all();
  }
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
    slot.acked = slot.failed = slot.discarded = slot.permanent = slot.overloaded = 0;
    slot.firstError.clear();
    slot.firstPermanent.clear();
  }
  const std::size_t total = messages.size();
  for (MsgPtr& message : messages) {
    natsMsg* raw = message.release();
    const natsStatus s = js_PublishMsgAsync(slot.js.get(), &raw, nullptr);
    if (raw != nullptr) {  // not taken by the library: refused before it was sent
      // NATS_MAX_PAYLOAD (over the server's max_payload) is permanent (kindOf); a closed or
      // draining connection is transient.
      std::string what = natsStatus_GetText(s);
      if (const char* last = nats_GetLastError(nullptr); last != nullptr && *last != '\0') {
        what += std::string(" [") + last + "]";
      }
      std::lock_guard guard(slot.lock);
      slot.fail(kindOf(s), describe(raw, what));
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
  const std::size_t permanent = slot.permanent;
  const std::size_t overloaded = slot.overloaded;
  const std::string firstError = slot.firstError;
  const std::string firstPermanent = slot.firstPermanent;
  guard.unlock();
  give(slot);
  // Permanent first, even when others timed out: the caller must learn that some message can
  // never be accepted (it then publishes item by item to find which).
  if (permanent > 0) {
    fail(ErrorKind::kPermanent, "JetStream can never accept " + std::to_string(permanent) + " of " +
                                    std::to_string(total) + " publishes; first: " + firstPermanent);
  }
  if (timedOut) {
    fail(ErrorKind::kTransient, "JetStream acknowledged " + std::to_string(acked) + " of " +
                                    std::to_string(total) + " publishes within " +
                                    std::to_string(timeout_.count()) + " ms" +
                                    (firstError.empty() ? "" : "; first failure: " + firstError));
  }
  if (failed > 0) {
    fail(overloaded > 0 ? ErrorKind::kOverloaded : ErrorKind::kTransient,
         "JetStream refused " + std::to_string(failed) + " of " + std::to_string(total) +
             " publishes; first: " + firstError);
  }
}

}  // namespace idem::detail::nats
