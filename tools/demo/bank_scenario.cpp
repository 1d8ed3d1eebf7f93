// BankScenario: the workload is a pure function of the seed; the checks read the three stores.
#include "tools/demo/bank_scenario.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "idem/envelope.capnp.h"
#include "samples/bank/bank.h"
#include "tools/apps.h"
#include "tools/demo/demo_edge.h"
#include "tools/demo/rng.h"

namespace idem::tools::demo {

namespace {

std::string numbered(const char* prefix, std::uint64_t i) {
  char text[32];
  std::snprintf(text, sizeof text, "%s-%05llu", prefix, static_cast<unsigned long long>(i));
  return text;
}

// A few examples of what went wrong, for an invariant's detail.
void noteExample(std::string& examples, int& count, const std::string& what) {
  if (count++ < 3) examples += (examples.empty() ? "" : "; ") + what;
}

std::int64_t envelopeTime(const store::HistoryEntry& entry) {
  CanonicalReader reader(entry.input, "recorded input envelope");
  return reader.root<wire::Envelope>().getRecordedAt();
}

}  // namespace

BankScenario::BankScenario(const DemoOptions& options, const Workspace& workspace) {
  Rng rng(options.seed);
  const std::uint64_t accountCount = std::max<std::uint64_t>(options.accounts, 2);
  for (std::uint64_t i = 0; i < accountCount; ++i) {
    accounts_.push_back({numbered("acc", i), rng.between(10'000, 100'000), false});
  }
  // About 1% of the accounts close before the transfers start (at least one).
  const std::uint64_t closing = std::max<std::uint64_t>(1, accountCount / 100);
  for (std::uint64_t i = 0; i < closing; ++i) accounts_[rng.below(accountCount)].closed = true;
  std::vector<const Account*> closed;
  for (const Account& a : accounts_) {
    if (a.closed) closed.push_back(&a);
  }
  for (std::uint64_t i = 0; i < options.transfers; ++i) {
    Transfer t{numbered("t", i), accounts_[rng.below(accountCount)].id, {}, 0};
    // 3% go to a closed account (compensation); the rest to any account (rarely the same one).
    t.to = rng.chance(3) ? closed[rng.below(closed.size())]->id
                         : accounts_[rng.below(accountCount)].id;
    // Mostly small amounts; one in ten large enough to exceed the funds now and then.
    t.amount = rng.chance(10) ? rng.between(20'000, 120'000) : rng.between(1, 5'000);
    transfers_.push_back(std::move(t));
  }
  const App& app = findApp("bank");
  accountsStore_ =
      std::make_unique<StoreView>(workspace.store(bank::kAccounts), app.handlers(bank::kAccounts));
  transfersStore_ = std::make_unique<StoreView>(workspace.store(bank::kTransfers),
                                                app.handlers(bank::kTransfers));
  notifications_ = std::make_unique<StoreView>(workspace.store(bank::kNotifications),
                                               app.handlers(bank::kNotifications));
}

std::vector<ProcessSpec> BankScenario::processes() const {
  // Two processes compete for the accounts queue and share its store.
  return {{"accounts-1", {bank::kAccounts}},
          {"accounts-2", {bank::kAccounts}},
          {"transfers", {bank::kTransfers}},
          {"notifications", {bank::kNotifications}}};
}

std::vector<std::vector<Outbound>> BankScenario::setupPhases(TimePoint now) {
  std::vector<Outbound> open;
  std::vector<Outbound> close;
  for (const Account& a : accounts_) {
    open.push_back(demoMessage<bank::OpenAccount>("bank/open/" + a.id, bank::kAccounts, now,
                                                  [&](bank::OpenAccount::Builder m) {
                                                    m.setAccountId(a.id);
                                                    m.setInitialBalance(a.initialBalance);
                                                  }));
    if (a.closed) {
      close.push_back(demoMessage<bank::CloseAccount>(
          "bank/close/" + a.id, bank::kAccounts, now,
          [&](bank::CloseAccount::Builder m) { m.setAccountId(a.id); }));
    }
  }
  return {std::move(open), std::move(close)};
}

Outbound BankScenario::workItem(std::size_t index, TimePoint now) {
  const Transfer& t = transfers_.at(index);
  return demoMessage<bank::StartTransfer>("bank/transfer/" + t.id, bank::kTransfers, now,
                                          [&](bank::StartTransfer::Builder m) {
                                            m.setTransferId(t.id);
                                            m.setFrom(t.from);
                                            m.setTo(t.to);
                                            m.setAmount(t.amount);
                                          });
}

bool BankScenario::applied(const Outbound& message) const {
  return (message.destination == bank::kAccounts ? *accountsStore_ : *transfersStore_)
      .applied(message.id);
}

std::vector<Invariant> BankScenario::check() {
  struct Seen {
    bank::Account::Status status = bank::Account::Status::UNKNOWN;
    std::int64_t balance = 0;
    std::int64_t held = 0;
    std::size_t holds = 0;
  };
  std::map<std::string, Seen> accounts;
  accountsStore_->forEach<bank::Account>("account", [&](const std::string& key, auto a) {
    Seen& s = accounts[key];
    s.status = a.getStatus();
    s.balance = a.getBalance();
    for (auto h : a.getHolds()) s.held += h.getAmount();
    s.holds = a.getHolds().size();
  });
  std::map<std::string, bank::Transfer::Step> steps;
  transfersStore_->forEach<bank::Transfer>(
      "transfer", [&](const std::string& key, auto t) { steps[key] = t.getStep(); });
  struct Notice {
    std::uint32_t count = 0;
    bank::Notification::Outcome outcome = bank::Notification::Outcome::NONE;
  };
  std::map<std::string, Notice> notices;
  notifications_->forEach<bank::Notification>("notification", [&](const std::string& key, auto n) {
    notices[key] = {n.getNotices(), n.getOutcome()};
  });

  std::vector<Invariant> out;
  // Accounts: all opened (and the chosen ones closed); totals; no negatives; no holds left.
  std::int64_t initial = 0, total = 0, lowest = 0, heldTotal = 0;
  std::size_t holds = 0;
  int wrongStatus = 0;
  std::string statusExamples;
  std::map<std::string, std::int64_t> expected;
  for (const Account& a : accounts_) {
    initial += a.initialBalance;
    expected[a.id] = a.initialBalance;
    const auto want = a.closed ? bank::Account::Status::CLOSED : bank::Account::Status::OPEN;
    auto it = accounts.find(a.id);
    if (it == accounts.end() || it->second.status != want) {
      noteExample(statusExamples, wrongStatus, a.id + (it == accounts.end() ? " missing" : ""));
    }
  }
  bool first = true;
  for (const auto& [id, s] : accounts) {
    total += s.balance;
    heldTotal += s.held;
    holds += s.holds;
    lowest = first ? s.balance - s.held : std::min(lowest, s.balance - s.held);
    first = false;
  }
  out.push_back(
      {"accounts opened and closed as sent", wrongStatus == 0,
       std::to_string(accounts.size()) + " accounts in the store, " +
           std::to_string(accounts_.size()) + " opened by the demo" +
           (wrongStatus ? ", " + std::to_string(wrongStatus) + " wrong: " + statusExamples : "")});
  out.push_back({"money conserved", total == initial,
                 "sum of balances " + std::to_string(total) + " cents, sum of initial balances " +
                     std::to_string(initial)});
  out.push_back({"no account below zero", lowest >= 0,
                 "lowest available balance " + std::to_string(lowest) + " cents"});
  out.push_back({"no dangling holds", holds == 0,
                 std::to_string(holds) + " holds left, " + std::to_string(heldTotal) + " cents"});

  // Transfers: each ended, notified exactly once with its outcome; balances = initial + moves.
  int notEnded = 0, badNotice = 0;
  std::string endedExamples, noticeExamples;
  for (const Transfer& t : transfers_) {
    auto step = steps.find(t.id);
    const bool known = step != steps.end();
    using Step = bank::Transfer::Step;
    using Outcome = bank::Notification::Outcome;
    const bool completed = known && step->second == Step::COMPLETED;
    const bool final =
        completed || (known && (step->second == Step::FAILED || step->second == Step::COMPENSATED));
    if (!final) noteExample(endedExamples, notEnded, t.id);
    if (completed) {
      expected[t.from] -= t.amount;
      expected[t.to] += t.amount;
    }
    auto n = notices.find(t.id);
    const Outcome want = !known                         ? Outcome::NONE
                         : completed                    ? Outcome::COMPLETED
                         : step->second == Step::FAILED ? Outcome::FAILED
                                                        : Outcome::COMPENSATED;
    if (n == notices.end() || n->second.count != 1 || n->second.outcome != want) {
      noteExample(noticeExamples, badNotice,
                  t.id + " has " + (n == notices.end() ? "0" : std::to_string(n->second.count)) +
                      " notices");
    }
  }
  int wrongBalance = 0;
  std::string balanceExamples;
  for (const auto& [id, want] : expected) {
    auto it = accounts.find(id);
    const std::int64_t got = it == accounts.end() ? 0 : it->second.balance;
    if (got != want) {
      noteExample(balanceExamples, wrongBalance,
                  id + " has " + std::to_string(got) + ", expected " + std::to_string(want));
    }
  }
  out.push_back({"every transfer ended", notEnded == 0,
                 std::to_string(transfers_.size() - notEnded) + " of " +
                     std::to_string(transfers_.size()) + " completed, failed or compensated" +
                     (notEnded ? "; not ended: " + endedExamples : "")});
  out.push_back({"every transfer notified exactly once", badNotice == 0,
                 std::to_string(notices.size()) + " notifications; " + std::to_string(badNotice) +
                     " transfers without exactly one notice of their outcome" +
                     (badNotice ? ": " + noticeExamples : "")});
  out.push_back({"balances = initial + completed transfers", wrongBalance == 0,
                 std::to_string(wrongBalance) + " accounts differ" +
                     (wrongBalance ? ": " + balanceExamples : "")});
  return out;
}

std::vector<std::int64_t> BankScenario::latencies() {
  std::vector<std::int64_t> out;
  for (const Transfer& t : transfers_) {
    std::int64_t sent = 0, notified = 0;
    transfersStore_->forEachVersion("transfer", t.id, [&](std::uint64_t v, const auto& entry) {
      if (v == 1) sent = envelopeTime(entry);
    });
    notifications_->forEachVersion("notification", t.id, [&](std::uint64_t v, const auto& entry) {
      if (v == 1) notified = entry.recordedAtNs;
    });
    if (sent != 0 && notified != 0) out.push_back(notified - sent);
  }
  return out;
}

std::vector<std::pair<std::string, std::uint64_t>> BankScenario::outcomes() {
  std::uint64_t completed = 0, failed = 0, compensated = 0, insufficient = 0;
  transfersStore_->forEach<bank::Transfer>("transfer", [&](const std::string&, auto t) {
    using Step = bank::Transfer::Step;
    completed += t.getStep() == Step::COMPLETED;
    failed += t.getStep() == Step::FAILED;
    compensated += t.getStep() == Step::COMPENSATED;
    insufficient +=
        t.getStep() == Step::FAILED && t.getReason() == bank::RejectReason::INSUFFICIENT_FUNDS;
  });
  return {{"completed", completed},
          {"failed", failed},
          {"  of which for insufficient funds", insufficient},
          {"compensated", compensated}};
}

}  // namespace idem::tools::demo
