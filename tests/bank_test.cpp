// Handler-level tests of the bank sample: accounts, the transfer process manager, notifications.
#include "samples/bank/bank.h"

#include <idem/error.h>
#include <idem/testing.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

namespace {

using idem::testing::Harness;
using idem::testing::Output;
using idem::testing::Run;

struct Bank {
  idem::Handlers accounts{bank::kAccounts};
  idem::Handlers transfers{bank::kTransfers};
  idem::Handlers notifications{bank::kNotifications};
  Harness h{{&accounts, &transfers, &notifications}};

  Bank() {
    bank::registerAccounts(accounts);
    bank::registerTransfers(transfers);
    bank::registerNotifications(notifications);
  }

  void open(const char* id, std::int64_t balance) {
    h.send<bank::OpenAccount>(bank::kAccounts, [&](bank::OpenAccount::Builder m) {
      m.setAccountId(id);
      m.setInitialBalance(balance);
    });
  }
  Run start(const char* transferId, const char* from, const char* to, std::int64_t amount) {
    return h.send<bank::StartTransfer>(bank::kTransfers, [&](bank::StartTransfer::Builder m) {
      m.setTransferId(transferId);
      m.setFrom(from);
      m.setTo(to);
      m.setAmount(amount);
    });
  }
  // Sends the single output of `run` on to its destination.
  Run step(const Run& run) {
    REQUIRE(run.outputs.size() == 1);
    REQUIRE_FALSE(run.outputs[0].destination.empty());
    return h.deliver(run.outputs[0]);
  }
  bank::Account::Reader account(const char* id) {
    return h.state<bank::Account>(bank::kAccounts, "account", id);
  }
  bank::Transfer::Reader transfer(const char* id) {
    return h.state<bank::Transfer>(bank::kTransfers, "transfer", id);
  }
  Run placeHold(const char* transferId, const char* accountId, std::int64_t amount) {
    return h.send<bank::PlaceHold>(bank::kAccounts,
                                   [&](bank::PlaceHold::Builder m) {
                                     m.setTransferId(transferId);
                                     m.setAccountId(accountId);
                                     m.setAmount(amount);
                                   },
                                   {.source = bank::kTransfers});
  }
};

}  // namespace

TEST_CASE("a transfer between open accounts moves the money and notifies the customer",
          "[samples][bank]") {
  Bank b;
  b.open("alice", 100'00);
  b.open("bob", 5'00);

  Run started = b.start("t1", "alice", "bob", 30'00);
  CHECK(b.transfer("t1").getStep() == bank::Transfer::Step::HOLDING);
  auto placeHold = started.only<bank::PlaceHold>().as<bank::PlaceHold>();
  CHECK(placeHold.getAccountId() == "alice");
  CHECK(placeHold.getAmount() == 30'00);

  Run held = b.step(started);
  CHECK(held.only<bank::HoldPlaced>().destination == bank::kTransfers);
  CHECK(b.account("alice").getBalance() == 100'00);
  REQUIRE(b.account("alice").getHolds().size() == 1);
  CHECK(b.account("alice").getHolds()[0].getAmount() == 30'00);

  Run crediting = b.step(held);
  CHECK(b.transfer("t1").getStep() == bank::Transfer::Step::CREDITING);
  CHECK(crediting.only<bank::Credit>().as<bank::Credit>().getAccountId() == "bob");

  Run credited = b.step(crediting);
  CHECK(credited.only<bank::Credited>().as<bank::Credited>().getTransferId() == "t1");
  CHECK(b.account("bob").getBalance() == 35'00);

  Run settling = b.step(credited);
  CHECK(b.transfer("t1").getStep() == bank::Transfer::Step::SETTLING);
  Run settled = b.step(settling);
  CHECK(settled.only<bank::HoldSettled>().as<bank::HoldSettled>().getAmount() == 30'00);
  CHECK(b.account("alice").getBalance() == 70'00);
  CHECK(b.account("alice").getHolds().size() == 0);

  Run completed = b.step(settled);
  CHECK(b.transfer("t1").getStep() == bank::Transfer::Step::COMPLETED);
  const auto& event = completed.only<bank::TransferCompleted>();
  CHECK(event.destination.empty());  // published
  CHECK(event.as<bank::TransferCompleted>().getAmount() == 30'00);

  b.h.deliver(event, bank::kNotifications);
  auto notice = b.h.state<bank::Notification>(bank::kNotifications, "notification", "t1");
  CHECK(notice.getNotices() == 1);
  CHECK(notice.getOutcome() == bank::Notification::Outcome::COMPLETED);
}

TEST_CASE("a transfer beyond the available funds fails and leaves both accounts untouched",
          "[samples][bank]") {
  Bank b;
  b.open("alice", 10'00);
  b.open("bob", 0);
  REQUIRE(b.placeHold("other", "alice", 8'00).only<bank::HoldPlaced>().destination ==
          bank::kTransfers);

  Run rejected = b.step(b.start("t1", "alice", "bob", 5'00));
  auto answer = rejected.only<bank::HoldRejected>().as<bank::HoldRejected>();
  CHECK(answer.getReason() == bank::RejectReason::INSUFFICIENT_FUNDS);

  Run failed = b.step(rejected);
  CHECK(b.transfer("t1").getStep() == bank::Transfer::Step::FAILED);
  CHECK(failed.only<bank::TransferFailed>().as<bank::TransferFailed>().getReason() ==
        bank::RejectReason::INSUFFICIENT_FUNDS);
  CHECK(b.account("alice").getBalance() == 10'00);
  CHECK(b.account("alice").getHolds().size() == 1);  // only the other transfer's
  CHECK(b.account("bob").getBalance() == 0);
}

TEST_CASE("a transfer from an unknown account is refused at the hold", "[samples][bank]") {
  Bank b;
  b.open("bob", 0);
  Run rejected = b.step(b.start("t1", "nobody", "bob", 1'00));
  CHECK(rejected.only<bank::HoldRejected>().as<bank::HoldRejected>().getReason() ==
        bank::RejectReason::UNKNOWN_ACCOUNT);
}

TEST_CASE("a credit to a closed account is compensated by releasing the source's hold",
          "[samples][bank]") {
  Bank b;
  b.open("alice", 50'00);
  b.open("bob", 0);
  b.h.send<bank::CloseAccount>(bank::kAccounts,
                               [](bank::CloseAccount::Builder m) { m.setAccountId("bob"); });

  Run crediting = b.step(b.step(b.start("t1", "alice", "bob", 20'00)));
  Run refused = b.step(crediting);
  CHECK(refused.only<bank::CreditRejected>().as<bank::CreditRejected>().getReason() ==
        bank::RejectReason::ACCOUNT_CLOSED);

  Run releasing = b.step(refused);
  CHECK(b.transfer("t1").getStep() == bank::Transfer::Step::COMPENSATING);
  CHECK(releasing.only<bank::ReleaseHold>().as<bank::ReleaseHold>().getAccountId() == "alice");

  Run released = b.step(releasing);
  CHECK(released.only<bank::HoldReleased>().as<bank::HoldReleased>().getAmount() == 20'00);
  CHECK(b.account("alice").getHolds().size() == 0);
  CHECK(b.account("alice").getBalance() == 50'00);

  Run compensated = b.step(released);
  CHECK(b.transfer("t1").getStep() == bank::Transfer::Step::COMPENSATED);
  CHECK(compensated.only<bank::TransferCompensated>().as<bank::TransferCompensated>().getReason() ==
        bank::RejectReason::ACCOUNT_CLOSED);
  CHECK(b.account("bob").getBalance() == 0);
}

TEST_CASE("a repeated PlaceHold for the same transfer gets the same answer and no second hold",
          "[samples][bank]") {
  Bank b;
  b.open("alice", 10'00);

  Run first = b.placeHold("t1", "alice", 6'00);
  Run again = b.placeHold("t1", "alice", 6'00);  // another message id, same transfer
  CHECK(first.outputs.at(0).payload.bytes() == again.outputs.at(0).payload.bytes());
  CHECK(b.account("alice").getHolds().size() == 1);

  SECTION("after the hold was settled") {
    b.h.send<bank::SettleHold>(bank::kAccounts,
                               [](bank::SettleHold::Builder m) {
                                 m.setTransferId("t1");
                                 m.setAccountId("alice");
                               },
                               {.source = bank::kTransfers});
    Run late = b.placeHold("t1", "alice", 6'00);
    CHECK(late.outputs.at(0).payload.bytes() == first.outputs.at(0).payload.bytes());
    CHECK(b.account("alice").getBalance() == 4'00);
    CHECK(b.account("alice").getHolds().size() == 0);
  }
  SECTION("after it was rejected, even once funds arrived") {
    Run rejected = b.placeHold("t2", "alice", 9'00);
    CHECK(rejected.only<bank::HoldRejected>().as<bank::HoldRejected>().getReason() ==
          bank::RejectReason::INSUFFICIENT_FUNDS);
    b.h.send<bank::Credit>(bank::kAccounts,
                           [](bank::Credit::Builder m) {
                             m.setTransferId("t3");
                             m.setAccountId("alice");
                             m.setAmount(100'00);
                           },
                           {.source = bank::kTransfers});
    Run repeated = b.placeHold("t2", "alice", 9'00);
    CHECK(repeated.outputs.at(0).payload.bytes() == rejected.outputs.at(0).payload.bytes());
    CHECK(b.account("alice").getHolds().size() == 1);
  }
}

TEST_CASE("holds never take the balance below zero", "[samples][bank]") {
  Bank b;
  b.open("alice", 10'00);
  int placed = 0;
  for (int i = 0; i < 5; ++i) {
    std::string id = "t" + std::to_string(i);
    if (b.placeHold(id.c_str(), "alice", 3'00).outputs.at(0).is<bank::HoldPlaced>()) ++placed;
  }
  CHECK(placed == 3);
  for (int i = 0; i < 5; ++i) {
    std::string id = "t" + std::to_string(i);
    bank::Account::Reader account = b.account("alice");
    bool holds = false;
    for (auto hold : account.getHolds()) holds = holds || hold.getTransferId() == id;
    if (!holds) continue;
    b.h.send<bank::SettleHold>(bank::kAccounts,
                               [&](bank::SettleHold::Builder m) {
                                 m.setTransferId(id);
                                 m.setAccountId("alice");
                               },
                               {.source = bank::kTransfers});
    CHECK(b.account("alice").getBalance() >= 0);
  }
  CHECK(b.account("alice").getBalance() == 1'00);
}

TEST_CASE("settling a hold that was never placed is a permanent error, not a business answer",
          "[samples][bank]") {
  Bank b;
  b.open("alice", 10'00);
  CHECK_THROWS_AS(b.h.send<bank::SettleHold>(bank::kAccounts,
                                             [](bank::SettleHold::Builder m) {
                                               m.setTransferId("never");
                                               m.setAccountId("alice");
                                             },
                                             {.source = bank::kTransfers}),
                  idem::Error);
}

TEST_CASE("a late or repeated reply does not move a transfer twice", "[samples][bank]") {
  Bank b;
  b.open("alice", 10'00);
  b.open("bob", 0);
  Run held = b.step(b.start("t1", "alice", "bob", 1'00));
  Run crediting = b.step(held);
  REQUIRE(crediting.outputs.size() == 1);
  // A copy of the reply (its id) is a duplicate: re-run on the version it moved, the same Credit.
  Run duplicate = b.h.deliver(held.outputs.at(0));
  CHECK(duplicate.duplicate);
  CHECK(duplicate.outputs.at(0).envelope == crediting.outputs.at(0).envelope);
  // The same answer under another id is new to the framework: the transfer's step ignores it.
  Output late = held.outputs.at(0);
  late.id = idem::MessageId::forEdge("test", "the same reply, sent again");
  CHECK(b.h.deliver(late).outputs.empty());
  CHECK(b.transfer("t1").getStep() == bank::Transfer::Step::CREDITING);
}

TEST_CASE("the same input on the same state gives byte-identical state and outputs",
          "[samples][bank][determinism]") {
  Bank b;
  b.open("alice", 10'00);
  b.open("bob", 0);
  Run held = b.step(b.start("t1", "alice", "bob", 4'00));
  const idem::Bytes before = b.h.state(bank::kTransfers, "transfer", "t1").bytes();
  const Output& reply = held.only<bank::HoldPlaced>();

  auto fill = [&](bank::HoldPlaced::Builder m) {
    m.setTransferId("t1");
    m.setAccountId("alice");
    m.setAmount(4'00);
  };
  idem::testing::Input input{.id = reply.id,
                             .source = bank::kAccounts,
                             .recordedAt = idem::TimePoint(std::chrono::seconds(1'700'000'000))};
  Run first = b.h.runOn<bank::HoldPlaced>(bank::kTransfers, before, fill, input);
  Run second = b.h.runOn<bank::HoldPlaced>(bank::kTransfers, before, fill, input);
  CHECK(first.state == second.state);
  REQUIRE(first.outputs.size() == 1);
  REQUIRE(second.outputs.size() == 1);
  CHECK(first.outputs[0].envelope == second.outputs[0].envelope);
  CHECK_NOTHROW(b.h.rerun(first));

  input.id = idem::MessageId::forEdge("test", "another input");
  Run other = b.h.runOn<bank::HoldPlaced>(bank::kTransfers, before, fill, input);
  CHECK(other.outputs[0].id != first.outputs[0].id);
  CHECK(other.outputs[0].payload.bytes() == first.outputs[0].payload.bytes());
}
