// The hello handlers under idem::testing: no process, no store, no bus.
#define CATCH_CONFIG_MAIN
#include "hello.h"

#include <idem/testing.h>

#include <catch2/catch.hpp>

TEST_CASE("a Greet counts a visit; its duplicate and a crash at each step change nothing more") {
  idem::Handlers greeter{hello::kGreeter};
  hello::registerGreeter(greeter);
  idem::testing::Harness h{{&greeter}};
  auto ada = [](hello::Greet::Builder m) { m.setName("ada"); };

  idem::testing::Run first = h.send<hello::Greet>(hello::kGreeter, ada);
  CHECK(first.state.json() == R"({"visits":1})");
  CHECK(first.only<hello::Greeted>().as<hello::Greeted>().getGreeting() == "Hello, ada!");

  idem::testing::Run again = h.redeliver(first);  // the same id: a duplicate
  CHECK(again.duplicate);
  CHECK(again.outputs.at(0).envelope == first.outputs.at(0).envelope);

  // A crash at each step (in the handler, before and after commit, after publish, before ack),
  // then the redelivery: one version recorded, the crash-free outputs, every copy identical.
  h.checkCrashAtEachStep<hello::Greet>(hello::kGreeter, ada);
  CHECK(h.state<hello::Visitor>(hello::kGreeter, "visitor", "ada").getVisits() == 2);
}

TEST_CASE("a second visit is welcomed back, and both greetings go in the guestbook") {
  idem::Handlers greeter{hello::kGreeter};
  idem::Handlers guestbook{hello::kGuestbook};
  hello::registerGreeter(greeter);
  hello::registerGuestbook(guestbook);
  idem::testing::Harness h{{&greeter, &guestbook}};
  auto ada = [](hello::Greet::Builder m) { m.setName("ada"); };

  idem::testing::Run first = h.send<hello::Greet>(hello::kGreeter, ada);
  const idem::testing::Output& greeted = first.only<hello::Greeted>();
  CHECK(greeted.destination == hello::kGuestbook);
  h.deliver(greeted);  // on to the guestbook, with its id and source

  idem::testing::Run second = h.send<hello::Greet>(hello::kGreeter, ada);
  CHECK(second.only<hello::Greeted>().json() ==
        R"({"name":"ada","visit":2,"greeting":"Welcome back, ada."})");
  h.deliver(second.outputs.at(0));
  auto page = h.state<hello::Page>(hello::kGuestbook, "page", "ada");
  REQUIRE(page.getLines().size() == 2);
  CHECK(page.getLines()[0] == "Hello, ada!");
  CHECK(page.getLines()[1] == "Welcome back, ada.");

  // The guestbook under a crash at each step, fed a copy of a greeting the greeter sent.
  idem::testing::CrashCheck check =
      h.checkCrashAtEachStep<hello::Greeted>(hello::kGuestbook, [](hello::Greeted::Builder m) {
        m.setName("ada");
        m.setVisit(3);
        m.setGreeting("Welcome back, ada.");
      });
  CHECK(check.crashes.size() == 5);
  CHECK(check.run.version == 3);
}
