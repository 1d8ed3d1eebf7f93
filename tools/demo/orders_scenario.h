// OrdersScenario: the orders demo. Stocks a few skus, places seeded orders (more than the stock
// can serve, so some are rejected), pays most of them as soon as their payment is requested and
// leaves the rest unpaid, so that the 2 s payment deadline cancels them; checks that every order
// ended once, stock was conserved and the money of cancelled orders went back. A few customers
// pay only after their order was cancelled, so that refunds happen too.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tools/demo/demo_options.h"
#include "tools/demo/scenario.h"
#include "tools/demo/store_view.h"
#include "tools/workspace.h"

namespace idem::tools::demo {

class OrdersScenario : public Scenario {
 public:
  static constexpr std::uint32_t kPaymentWindowMs = 2000;

  // Opens the four endpoints' stores in `workspace` (creating them when absent).
  OrdersScenario(const DemoOptions& options, const Workspace& workspace);

  std::vector<ProcessSpec> processes() const override;
  std::string unit() const override { return "orders"; }
  std::vector<std::vector<Outbound>> setupPhases(TimePoint now) override;
  std::size_t workCount() const override { return orders_.size(); }
  Outbound workItem(std::size_t index, TimePoint now) override;
  bool applied(const Outbound& message) const override;
  std::uint64_t ended() override;
  // PayOrder for each order chosen to be paid, once payments has its request (or, for the late
  // payers, once payments has its cancellation).
  // An order has ended when it is shipped, rejected or cancelled; a cancelled order of a late
  // payer only once that payment was applied (and so refunded).

  std::vector<Outbound> followUps(TimePoint now) override;
  std::vector<Invariant> check() override;
  std::vector<std::int64_t> latencies() override;
  std::vector<std::pair<std::string, std::uint64_t>> outcomes() override;

 private:
  struct Order {
    std::string id;
    std::string sku;
    std::uint32_t quantity = 0;
    std::int64_t amount = 0;
    enum class Pays { kInTime, kLate, kNever } pays = Pays::kNever;
  };

  Outbound payment(const Order& order, TimePoint now) const;
  const StoreView& storeOf(const std::string& endpoint) const;

  std::map<std::string, std::uint32_t> stock_;  // sku -> units added
  std::vector<Order> orders_;
  std::map<std::string, std::size_t> orderIndex_;
  std::set<std::string> payments_;  // orders whose PayOrder this run has sent
  std::map<std::string, std::unique_ptr<StoreView>> stores_;
};

}  // namespace idem::tools::demo
