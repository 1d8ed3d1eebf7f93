// NatsTap: a core-NATS subscription on a subject, for tests. It sees every message published
// there, re-emitted copies included, before a JetStream stream's duplicate window drops them
// (that window cannot be turned off: nats-server 2.9 refuses one under 100 ms).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "idem/transport.h"

namespace idem::test {

class NatsTap {
 public:
  // Connects to `url` (reconnecting for ever) and subscribes to `subject` (wildcards allowed),
  // without a pending limit. Throws std::runtime_error when it cannot.
  NatsTap(const std::string& url, const std::string& subject);
  ~NatsTap();
  NatsTap(const NatsTap&) = delete;
  NatsTap& operator=(const NatsTap&) = delete;

  // The bodies received since the last call, in arrival order. First waits (up to 1 s) for the
  // server's answer to a ping, so that everything it routed to the tap before the call is
  // included. While disconnected, what arrived before (messages published meanwhile are missed).
  std::vector<Bytes> take();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace idem::test
