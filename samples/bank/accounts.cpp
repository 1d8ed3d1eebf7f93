// Accounts: an account's balance, the holds reserving funds for transfers, and the answers given.
// Invariant: 0 <= sum(holds) <= balance, so available funds and the balance are never negative.
#include <idem/error.h>
#include <idem/lists.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include "samples/bank/bank.h"

namespace bank {

namespace {

constexpr auto kHolds =
    idem::listField(&Account::Builder::disownHolds, &Account::Builder::adoptHolds);
constexpr auto kOutcomes =
    idem::listField(&Account::Builder::disownOutcomes, &Account::Builder::adoptOutcomes);

std::int64_t available(Account::Reader account) {
  std::int64_t held = 0;
  for (Hold::Reader hold : account.getHolds()) held += hold.getAmount();
  return account.getBalance() - held;
}

std::optional<Hold::Reader> findHold(Account::Reader account, capnp::Text::Reader transferId) {
  for (Hold::Reader hold : account.getHolds()) {
    if (hold.getTransferId() == transferId) return hold;
  }
  return std::nullopt;
}

// The answer already given for `transferId`, among the outcomes of the given kinds.
std::optional<Outcome::Reader> findOutcome(Account::Reader account, capnp::Text::Reader transferId,
                                           std::initializer_list<Outcome::Kind> kinds) {
  for (Outcome::Reader outcome : account.getOutcomes()) {
    if (outcome.getTransferId() != transferId) continue;
    for (Outcome::Kind kind : kinds) {
      if (outcome.getKind() == kind) return outcome;
    }
  }
  return std::nullopt;
}

void recordOutcome(Account::Builder account, capnp::Text::Reader transferId, std::int64_t amount,
                   Outcome::Kind kind, RejectReason reason = RejectReason::NONE) {
  Outcome::Builder outcome = idem::append(account, kOutcomes);
  outcome.setTransferId(transferId);
  outcome.setAmount(amount);
  outcome.setKind(kind);
  outcome.setReason(reason);
}

// Why `account` cannot take part in a transfer of `amount`, or NONE.
RejectReason refusal(Account::Reader account, std::int64_t amount) {
  if (amount <= 0) return RejectReason::INVALID_AMOUNT;
  if (account.getStatus() == Account::Status::UNKNOWN) return RejectReason::UNKNOWN_ACCOUNT;
  if (account.getStatus() == Account::Status::CLOSED) return RejectReason::ACCOUNT_CLOSED;
  return RejectReason::NONE;
}

void openAccount(Account::Builder account, OpenAccount::Reader m, idem::Context&) {
  if (m.getInitialBalance() < 0) {
    idem::fail(idem::ErrorKind::kPermanent,
               "OpenAccount " + std::string(m.getAccountId()) + " with a negative balance");
  }
  if (account.getStatus() != Account::Status::UNKNOWN) return;  // opened before: nothing to do
  account.setAccountId(m.getAccountId());
  account.setStatus(Account::Status::OPEN);
  account.setBalance(m.getInitialBalance());
}

void closeAccount(Account::Builder account, CloseAccount::Reader, idem::Context&) {
  // Pending holds may still settle or be released; new holds and credits are refused.
  if (account.getStatus() == Account::Status::OPEN) account.setStatus(Account::Status::CLOSED);
}

void replyHoldPlaced(idem::Context& ctx, capnp::Text::Reader transferId,
                     capnp::Text::Reader accountId, std::int64_t amount) {
  HoldPlaced::Builder placed = ctx.reply<HoldPlaced>();
  placed.setTransferId(transferId);
  placed.setAccountId(accountId);
  placed.setAmount(amount);
}

void placeHold(Account::Builder account, PlaceHold::Reader m, idem::Context& ctx) {
  const auto id = m.getTransferId();
  if (auto hold = findHold(account, id)) {
    replyHoldPlaced(ctx, id, m.getAccountId(), hold->getAmount());
    return;
  }
  using Kind = Outcome::Kind;
  RejectReason reason = RejectReason::NONE;
  if (auto done = findOutcome(account, id,
                              {Kind::HOLD_REJECTED, Kind::HOLD_SETTLED, Kind::HOLD_RELEASED})) {
    if (done->getKind() != Kind::HOLD_REJECTED) {  // placed, and final since: same answer
      replyHoldPlaced(ctx, id, m.getAccountId(), done->getAmount());
      return;
    }
    reason = done->getReason();
  } else {
    reason = refusal(account, m.getAmount());
    if (reason == RejectReason::NONE && available(account) < m.getAmount()) {
      reason = RejectReason::INSUFFICIENT_FUNDS;
    }
    if (reason != RejectReason::NONE) {
      recordOutcome(account, id, m.getAmount(), Kind::HOLD_REJECTED, reason);
    }
  }
  if (reason != RejectReason::NONE) {
    HoldRejected::Builder rejected = ctx.reply<HoldRejected>();
    rejected.setTransferId(id);
    rejected.setAccountId(m.getAccountId());
    rejected.setReason(reason);
    return;
  }
  Hold::Builder hold = idem::append(account, kHolds);
  hold.setTransferId(id);
  hold.setAmount(m.getAmount());
  replyHoldPlaced(ctx, id, m.getAccountId(), m.getAmount());
}

// Removes the hold of `transferId` and records `kind`; returns its amount. For a hold made final
// before, returns the amount recorded then. Throws idem::Error (permanent) when there is neither.
std::int64_t finishHold(Account::Builder account, capnp::Text::Reader transferId,
                        Outcome::Kind kind, const char* what) {
  if (auto hold = findHold(account, transferId)) {
    const std::int64_t amount = hold->getAmount();
    idem::removeIf(account, kHolds,
                   [&](Hold::Reader h) { return h.getTransferId() == transferId; });
    if (kind == Outcome::Kind::HOLD_SETTLED) account.setBalance(account.getBalance() - amount);
    recordOutcome(account, transferId, amount, kind);
    return amount;
  }
  if (auto done = findOutcome(account, transferId, {kind})) return done->getAmount();
  idem::fail(idem::ErrorKind::kPermanent, std::string(what) + " for transfer " +
                                              std::string(transferId) +
                                              ", which holds nothing on account " +
                                              std::string(account.asReader().getAccountId()));
}

void settleHold(Account::Builder account, SettleHold::Reader m, idem::Context& ctx) {
  const std::int64_t amount =
      finishHold(account, m.getTransferId(), Outcome::Kind::HOLD_SETTLED, "SettleHold");
  HoldSettled::Builder settled = ctx.reply<HoldSettled>();
  settled.setTransferId(m.getTransferId());
  settled.setAccountId(m.getAccountId());
  settled.setAmount(amount);
}

void releaseHold(Account::Builder account, ReleaseHold::Reader m, idem::Context& ctx) {
  const std::int64_t amount =
      finishHold(account, m.getTransferId(), Outcome::Kind::HOLD_RELEASED, "ReleaseHold");
  HoldReleased::Builder released = ctx.reply<HoldReleased>();
  released.setTransferId(m.getTransferId());
  released.setAccountId(m.getAccountId());
  released.setAmount(amount);
}

void credit(Account::Builder account, Credit::Reader m, idem::Context& ctx,
            const AccountRules& rules) {
  const auto id = m.getTransferId();
  const std::int64_t fee =
      std::clamp<std::int64_t>(rules.creditFee, 0, std::max<std::int64_t>(m.getAmount(), 0));
  const std::int64_t net = m.getAmount() - fee;
  using Kind = Outcome::Kind;
  std::optional<Outcome::Reader> done =
      findOutcome(account, id, {Kind::CREDITED, Kind::CREDIT_REJECTED});
  RejectReason reason = done ? done->getReason() : refusal(account, m.getAmount());
  std::int64_t balance = 0;
  if (!done && reason == RejectReason::NONE &&
      __builtin_add_overflow(account.getBalance(), net, &balance)) {
    reason = RejectReason::INVALID_AMOUNT;
  }
  if (reason != RejectReason::NONE) {
    if (!done) recordOutcome(account, id, m.getAmount(), Kind::CREDIT_REJECTED, reason);
    CreditRejected::Builder rejected = ctx.reply<CreditRejected>();
    rejected.setTransferId(id);
    rejected.setAccountId(m.getAccountId());
    rejected.setReason(reason);
    return;
  }
  if (!done) {
    account.setBalance(balance);
    recordOutcome(account, id, net, Kind::CREDITED);
  }
  Credited::Builder credited = ctx.reply<Credited>();
  credited.setTransferId(id);
  credited.setAccountId(m.getAccountId());
  credited.setAmount(done ? done->getAmount() : net);
}

template <typename M>
std::string accountOf(typename M::Reader m) {
  return m.getAccountId();
}

}  // namespace

void registerAccounts(idem::Handlers& handlers) { registerAccountsWith(handlers, AccountRules{}); }

void registerAccountsWith(idem::Handlers& handlers, const AccountRules& rules) {
  const std::uint32_t creditVersion = rules.creditFee == 0 ? 1 : 2;
  handlers.entity<Account>("account")
      .on<OpenAccount>({"bank.open-account", 1}, accountOf<OpenAccount>, openAccount)
      .on<CloseAccount>({"bank.close-account", 1}, accountOf<CloseAccount>, closeAccount)
      .on<PlaceHold>({"bank.place-hold", 1}, accountOf<PlaceHold>, placeHold)
      .on<SettleHold>({"bank.settle-hold", 1}, accountOf<SettleHold>, settleHold)
      .on<ReleaseHold>({"bank.release-hold", 1}, accountOf<ReleaseHold>, releaseHold)
      .on<Credit>({"bank.credit", creditVersion}, accountOf<Credit>,
                  [rules](Account::Builder account, Credit::Reader m, idem::Context& ctx) {
                    credit(account, m, ctx, rules);
                  });
  if (creditVersion == 2) {
    // The version it replaced stays registered for replay: versions it recorded may still be
    // re-run (duplicates owed to the transport, audits, point-in-time loads).
    handlers.entity<Account>("account").replayOnly<Credit>(
        {"bank.credit", 1}, accountOf<Credit>,
        [](Account::Builder account, Credit::Reader m, idem::Context& ctx) {
          credit(account, m, ctx, AccountRules{});
        });
  }
}

}  // namespace bank
