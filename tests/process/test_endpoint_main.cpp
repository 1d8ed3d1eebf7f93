// idem-test-endpoint: the core tests' endpoints served as a real process, for the kill -9 tests.
// App "chain": a (counters: Increment -> Counted, published), b (relay: Counted -> Relayed),
// c (sink of Relayed). IDEM_TEST_FLAKY=N makes the first N runs of Flaky handlers throw;
// IDEM_TEST_PING_GATE=FILE holds each Ping in a's handler while FILE exists
// (tests/test_endpoints.cpp).
#include <kj/exception.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "tests/test_endpoints.h"
#include "tools/serve.h"

int main(int argc, char** argv) {
  idem::tools::ServeOptions options;
  CLI::App cli{"idem-test-endpoint: serves the test chain a -> b -> c"};
  cli.add_option("--endpoint", options.endpoints)->required();
  cli.add_option("--dir", options.dir)->required();
  unsigned leaseMs = 30'000;
  cli.add_option("--lease-ms", leaseMs);
  cli.add_option("--batch", options.endpoint.batchSize);
  cli.add_option("--transport", options.transport);
  cli.add_option("--partition-count", options.partitionCount);
  std::string partitions;
  cli.add_option("--partitions", partitions);
  cli.add_option("--member", options.member);
  cli.add_option("--nats-replicas", options.nats.replicas);
  cli.add_option("--admin", options.admin);
  CLI11_PARSE(cli, argc, argv);
  options.setLease(std::chrono::milliseconds(leaseMs));

  auto knobs = std::make_shared<idem::test::CounterKnobs>();
  if (const char* flaky = std::getenv("IDEM_TEST_FLAKY")) {
    knobs->flakyFailuresLeft = static_cast<unsigned>(std::strtoul(flaky, nullptr, 10));
  }
  const idem::tools::App app{
      "chain",
      {{"a", [knobs](idem::Handlers& h) { idem::test::addCounterHandlers(h, knobs); }},
       {"b", [](idem::Handlers& h) { idem::test::addRelayHandlers(h); }},
       {"c", [](idem::Handlers& h) { idem::test::addChainSinkHandlers(h); }}}};
  try {
    idem::tools::applyPartitionsFlag(options, partitions);
    return idem::tools::serve(app, options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "idem-test-endpoint: %s\n", e.what());
    return 1;
  } catch (const kj::Exception& e) {
    std::fprintf(stderr, "idem-test-endpoint: %s\n", e.getDescription().cStr());
    return 1;
  }
}
