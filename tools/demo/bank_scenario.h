// BankScenario: the bank demo. Opens accounts with seeded balances, closes a few, then runs
// seeded transfers among them (some beyond the funds, some to closed accounts, so that failures
// and compensations happen), and checks that money was neither lost nor doubled.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tools/demo/demo_options.h"
#include "tools/demo/scenario.h"
#include "tools/demo/store_view.h"
#include "tools/workspace.h"

namespace idem::tools::demo {

class BankScenario : public Scenario {
 public:
  // Opens the three endpoints' stores in `workspace` (creating them when absent).
  BankScenario(const DemoOptions& options, const Workspace& workspace);

  std::vector<ProcessSpec> processes() const override;
  std::string unit() const override { return "transfers"; }
  std::vector<std::vector<Outbound>> setupPhases(TimePoint now) override;
  std::size_t workCount() const override { return transfers_.size(); }
  Outbound workItem(std::size_t index, TimePoint now) override;
  bool applied(const Outbound& message) const override;
  std::uint64_t ended() override { return notifications_->entityCount(); }
  std::vector<Invariant> check() override;
  std::vector<std::int64_t> latencies() override;
  std::vector<std::pair<std::string, std::uint64_t>> outcomes() override;

 private:
  struct Account {
    std::string id;
    std::int64_t initialBalance = 0;
    bool closed = false;
  };
  struct Transfer {
    std::string id;
    std::string from;
    std::string to;
    std::int64_t amount = 0;
  };

  std::vector<Account> accounts_;
  std::vector<Transfer> transfers_;
  std::unique_ptr<StoreView> accountsStore_;
  std::unique_ptr<StoreView> transfersStore_;
  std::unique_ptr<StoreView> notifications_;
};

}  // namespace idem::tools::demo
