// Notifications: the customer notices of a transfer's outcome, counted per transfer id.
#include <chrono>
#include <cstdint>
#include <string>

#include "samples/bank/bank.h"

namespace bank {

namespace {

void notify(Notification::Builder n, capnp::Text::Reader transferId, Notification::Outcome outcome,
            idem::Context& ctx) {
  if (n.getNotices() == 0) {
    n.setTransferId(transferId);
    n.setFirstNotifiedAt(
        std::chrono::duration_cast<std::chrono::nanoseconds>(ctx.now().time_since_epoch()).count());
  }
  n.setNotices(n.getNotices() + 1);
  n.setOutcome(outcome);
}

template <typename M>
std::string transferOf(typename M::Reader m) {
  return m.getTransferId();
}

}  // namespace

void registerNotifications(idem::Handlers& handlers) {
  handlers.entity<Notification>("notification")
      .on<TransferCompleted>(
          {"bank.notify-completed", 1}, transferOf<TransferCompleted>,
          [](Notification::Builder n, TransferCompleted::Reader m, idem::Context& ctx) {
            notify(n, m.getTransferId(), Notification::Outcome::COMPLETED, ctx);
          })
      .on<TransferFailed>(
          {"bank.notify-failed", 1}, transferOf<TransferFailed>,
          [](Notification::Builder n, TransferFailed::Reader m, idem::Context& ctx) {
            notify(n, m.getTransferId(), Notification::Outcome::FAILED, ctx);
          })
      .on<TransferCompensated>(
          {"bank.notify-compensated", 1}, transferOf<TransferCompensated>,
          [](Notification::Builder n, TransferCompensated::Reader m, idem::Context& ctx) {
            notify(n, m.getTransferId(), Notification::Outcome::COMPENSATED, ctx);
          });
}

}  // namespace bank
