// hello DIR NAME...: the greeter and the guestbook in one process, over the embedded bus in DIR,
// greeting each NAME once. Each Greet's id is derived from its name, so running the command
// again with the same names sends the same messages: the greeter recognises them as duplicates
// and nothing new is recorded.
#include <idem/edge.h>
#include <idem/embedded_transport.h>
#include <idem/endpoint.h>
#include <idem/host.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>
#include <vector>

#include "hello.h"

namespace {

void print(const char* name, const idem::EndpointStats& s) {
  std::cout << name << ": " << s.processed << " new, "
            << s.duplicates + s.alreadyPublished + s.prunedDuplicates << " duplicates, "
            << s.deadLettered << " failed\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: hello DIR NAME...\n";
    return 2;
  }
  idem::Host host;  // first: it takes SIGTERM and SIGINT from every thread started after it
  const std::filesystem::path dir = argv[1];
  idem::EmbeddedTransport bus({.busDirectory = dir / "bus"});

  idem::Handlers greeterHandlers(hello::kGreeter);
  hello::registerGreeter(greeterHandlers);
  idem::Endpoint greeter(std::move(greeterHandlers), bus, {.storeDirectory = dir / "greeter"});
  idem::Handlers guestbookHandlers(hello::kGuestbook);
  hello::registerGuestbook(guestbookHandlers);
  idem::Endpoint guestbook(std::move(guestbookHandlers), bus,
                           {.storeDirectory = dir / "guestbook"});
  host.add(greeter);
  host.add(guestbook);

  std::vector<idem::Outbound> greets;
  for (int i = 2; i < argc; ++i) {
    const idem::EdgeAddress to{.id = idem::MessageId::forEdge("hello", argv[i]),
                               .destination = hello::kGreeter};
    idem::Bytes envelope =
        idem::edgeMessage<hello::Greet>(to, [&](hello::Greet::Builder m) { m.setName(argv[i]); });
    greets.push_back(idem::edgeOutbound(to, capnp::typeId<hello::Greet>(), std::move(envelope)));
  }
  bus.publish(greets);

  // Stops the host once the greeter has handled every Greet (its outputs are then on the bus)
  // and the guestbook's queue is empty. A service would run until SIGTERM instead.
  std::jthread watcher([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      const idem::EndpointStats s = greeter.stats();
      const idem::QueueStats q = bus.queue(hello::kGuestbook);
      if (s.processed + s.duplicates + s.alreadyPublished + s.prunedDuplicates + s.deadLettered >=
              greets.size() &&
          q.ready + q.inFlight + q.delayed == 0) {
        host.requestStop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  host.run();  // drains: every batch in flight is committed, published and acked

  print(hello::kGreeter, greeter.stats());
  print(hello::kGuestbook, guestbook.stats());
  return 0;
}
