// The core tests' endpoints.
#include "tests/test_endpoints.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "idem/error.h"

namespace idem::test {

Handlers galleryHandlers(const std::string& endpoint) {
  Handlers handlers(endpoint);
  handlers.entity<Target>("target")
      .on<PlaceTarget>(
          {"place-target", 1}, [](PlaceTarget::Reader m) { return std::string(m.getTargetId()); },
          [](Target::Builder target, PlaceTarget::Reader m, Context&) {
            target.setPosition(m.getPosition());
          })
      .on<Fire>(
          {"fire", 1}, [](Fire::Reader m) { return std::string(m.getTargetId()); },
          [](Target::Builder target, Fire::Reader m, Context& ctx) {
            target.setShots(target.getShots() + 1);
            if (m.getPosition() == target.getPosition()) {
              target.setHits(target.getHits() + 1);
              auto hit = ctx.publish<Hit>();
              hit.setTargetId(m.getTargetId());
              hit.setShot(target.getShots());
            } else {
              auto missed = ctx.publish<Missed>();
              missed.setTargetId(m.getTargetId());
              missed.setShot(target.getShots());
            }
          });
  return handlers;
}

namespace {
std::string counterOf(Increment::Reader m) { return m.getCounterId(); }

// IDEM_TEST_PING_GATE=FILE (the endpoint processes' environment; unset in the test binary):
// a Ping creates FILE.held, then waits while FILE exists. An endpoint kept inside its batch for
// as long as a test needs (the drain tests). Read here, not passed in through CounterKnobs, so
// that the header every test includes stays as it is.
void holdAtGate() {
  const char* gate = std::getenv("IDEM_TEST_PING_GATE");
  if (gate == nullptr || *gate == '\0') return;
  std::ofstream(std::string(gate) + ".held").flush();
  while (std::filesystem::exists(gate)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

auto incrementHandler(std::shared_ptr<CounterKnobs> knobs, bool hiddenCounter) {
  return [knobs, hiddenCounter](Counter::Builder counter, Increment::Reader m, Context& ctx) {
    if (const unsigned run = ++knobs->incrementRuns; knobs->failingIncrementRuns.count(run) != 0) {
      throw std::runtime_error("increment run " + std::to_string(run) + " told to fail");
    }
    counter.setValue(counter.getValue() + m.getBy());
    // Growing a list: copy into a longer one (the old one is dropped by canonicalisation).
    auto old = counter.getHistory();
    auto grown = counter.initHistory(old.size() + 1);
    for (unsigned i = 0; i < old.size(); ++i) grown.set(i, old[i]);
    grown.set(old.size(), counter.getValue());
    for (std::uint32_t i = 0; i < m.getOutputs(); ++i) {
      auto counted = m.getForward().size() > 0 ? ctx.send<Counted>(m.getForward().cStr())
                                               : ctx.publish<Counted>();
      counted.setCounterId(m.getCounterId());
      counted.setValue(hiddenCounter ? knobs->hidden++ : counter.getValue());
      counted.setIndex(i);
      MessageId token = ctx.newId();
      counted.setToken(kj::arrayPtr(token.bytes.data(), token.bytes.size()));
      counted.setDice(ctx.random());
      counted.setAt(
          std::chrono::duration_cast<std::chrono::nanoseconds>(ctx.now().time_since_epoch())
              .count());
    }
  };
}

void registerCounters(Handlers& handlers, std::shared_ptr<CounterKnobs> knobs, bool hiddenCounter,
                      std::uint32_t incrementVersion) {
  if (!knobs) knobs = std::make_shared<CounterKnobs>();
  handlers.entity<Counter>("counter")
      .on<Increment>({"increment", incrementVersion}, counterOf,
                     incrementHandler(knobs, hiddenCounter))
      .on<Ping>(
          {"ping", 1}, [](Ping::Reader m) { return std::string(m.getCounterId()); },
          [](Counter::Builder, Ping::Reader, Context&) { holdAtGate(); })
      .on<Flaky>(
          {"flaky", 1}, [](Flaky::Reader m) { return std::string(m.getCounterId()); },
          [knobs](Counter::Builder counter, Flaky::Reader m, Context&) {
            if (knobs->flakyFailuresLeft > 0) {
              --knobs->flakyFailuresLeft;
              if (m.getPermanent()) fail(ErrorKind::kPermanent, "flaky says no for good");
              throw std::runtime_error("flaky failed this attempt");
            }
            counter.setValue(counter.getValue() + 1000);
          });
}
}  // namespace

Handlers counterHandlers(const std::string& endpoint, std::shared_ptr<CounterKnobs> knobs,
                         bool hiddenCounter, std::uint32_t incrementVersion) {
  Handlers handlers(endpoint);
  registerCounters(handlers, std::move(knobs), hiddenCounter, incrementVersion);
  return handlers;
}

Handlers counterHandlersAfterDeploy(const std::string& endpoint, std::uint32_t current,
                                    const std::vector<std::uint32_t>& retired,
                                    std::shared_ptr<CounterKnobs> knobs) {
  if (!knobs) knobs = std::make_shared<CounterKnobs>();
  Handlers handlers(endpoint);
  registerCounters(handlers, knobs, false, current);
  for (std::uint32_t version : retired) {
    handlers.entity<Counter>("counter").replayOnly<Increment>({"increment", version}, counterOf,
                                                              incrementHandler(knobs, false));
  }
  return handlers;
}

void addCounterHandlers(Handlers& handlers, std::shared_ptr<CounterKnobs> knobs) {
  registerCounters(handlers, std::move(knobs), false, 1);
}

void addSinkHandlers(Handlers& handlers) {
  handlers.entity<Counter>("sink").on<Counted>(
      {"sink-counted", 1}, [](Counted::Reader m) { return std::string(m.getCounterId()); },
      [](Counter::Builder sink, Counted::Reader m, Context&) {
        sink.setValue(sink.getValue() + m.getValue());
      });
}

Handlers sinkHandlers(const std::string& endpoint) {
  Handlers handlers(endpoint);
  addSinkHandlers(handlers);
  return handlers;
}

void addRelayHandlers(Handlers& handlers) {
  handlers.entity<Relay>("relay").on<Counted>(
      {"relay-counted", 1}, [](Counted::Reader m) { return std::string(m.getCounterId()); },
      [](Relay::Builder relay, Counted::Reader m, Context& ctx) {
        relay.setTotal(relay.getTotal() + m.getValue());
        auto relayed = ctx.publish<Relayed>();
        relayed.setCounterId(m.getCounterId());
        relayed.setValue(m.getValue());
      });
}

void addChainSinkHandlers(Handlers& handlers) {
  handlers.entity<Counter>("sink").on<Relayed>(
      {"sink-relayed", 1}, [](Relayed::Reader m) { return std::string(m.getCounterId()); },
      [](Counter::Builder sink, Relayed::Reader m, Context&) {
        sink.setValue(sink.getValue() + m.getValue());
      });
}

}  // namespace idem::test
