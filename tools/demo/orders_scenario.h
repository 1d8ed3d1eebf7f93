// OrdersScenario: the orders demo. Stocks a few skus, places seeded orders (more than the stock
// can serve, so some are rejected), pays most of them as soon as their payment is requested and
// leaves the rest unpaid, so that the 2 s payment deadline cancels them; checks that every order
// ended once, stock was conserved and the money of cancelled orders went back.
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
  // PayOrder for each order chosen to be paid, once payments has its request.
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
    bool pays = false;
  };

  Outbound payment(const Order& order, TimePoint now) const;
  const StoreView& storeOf(const std::string& endpoint) const;

  std::map<std::string, std::uint32_t> stock_;  // sku -> units added
  std::vector<Order> orders_;
  std::map<std::string, std::size_t> orderIndex_;
  std::uint64_t paymentsSeen_ = 0;  // payments entities scanned by followUps()
  std::map<std::string, std::unique_ptr<StoreView>> stores_;
};

}  // namespace idem::tools::demo
