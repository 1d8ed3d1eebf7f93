// The bank sample's endpoints: the handlers of accounts, transfers and notifications.
// Message flow and schema: samples/bank/bank.capnp and samples/README.md.
#pragma once

#include <idem/handlers.h>

#include "samples/bank/bank.capnp.h"

namespace bank {

inline constexpr const char* kAccounts = "accounts";
inline constexpr const char* kTransfers = "transfers";
inline constexpr const char* kNotifications = "notifications";

// Entity "account", keyed by account id. Handles OpenAccount and CloseAccount (edge commands,
// no answer), and PlaceHold, SettleHold, ReleaseHold and Credit, each answered with a reply to
// its sender. A request repeated for a transfer id already answered gets the same answer and
// changes nothing. Throws idem::Error (permanent) for a negative amount in OpenAccount and for
// settling or releasing a hold that does not exist (a protocol error of the sender).
void registerAccounts(idem::Handlers& handlers);

// The accounts' business rules that a deployment may change. The defaults are the bank's.
struct AccountRules {
  // Kept from each credit (at most the whole amount): the target is credited, and Credited
  // reports, the amount net of it. A non-zero fee registers the credit handler as
  // bank.credit v2, and keeps v1 (no fee) registered for replay only, as a deploy of a new
  // handler version does (docs/operations.md). Used by the fee-rule module that demonstrates
  // what-if replays.
  std::int64_t creditFee = 0;
};
void registerAccountsWith(idem::Handlers& handlers, const AccountRules& rules);

// Entity "transfer", keyed by transfer id: the process manager of one transfer. Handles
// StartTransfer (edge; answered with a TransferAcceptance reply when it came with a reply-to, as
// through the HTTP gateway) and the accounts' replies; publishes TransferCompleted, TransferFailed
// or TransferCompensated when it ends. Replies that do not fit the current step (late or repeated)
// change nothing.
void registerTransfers(idem::Handlers& handlers);

// Entity "notification", keyed by transfer id. Subscribes to the three transfer outcome events
// and counts the notices given to the customer; emits nothing.
void registerNotifications(idem::Handlers& handlers);

}  // namespace bank
