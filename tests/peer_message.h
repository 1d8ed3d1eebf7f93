// Envelopes as another endpoint would send them (with a source), for tests of replies and of
// what a peer may put in an envelope. Edge messages (idem/edge.h) have no source.
#pragma once

#include <capnp/generated-header-support.h>
#include <capnp/message.h>

#include <chrono>
#include <string>

#include "idem/canonical.h"
#include "idem/envelope.capnp.h"
#include "idem/message_id.h"
#include "idem/transport.h"

namespace idem::test {

// The canonical envelope of an M filled by `fill`, sent by endpoint `source` to `destination`,
// with id MessageId::forEdge("test", key) and recorded time `at`.
template <typename M, typename Fill>
Bytes sentBy(const std::string& source, const std::string& destination, const std::string& key,
             TimePoint at, Fill fill) {
  capnp::MallocMessageBuilder payloadMessage;
  fill(payloadMessage.initRoot<M>());
  Words payload = canonicalOf(payloadMessage.getRoot<M>().asReader());
  capnp::MallocMessageBuilder message;
  auto envelope = message.initRoot<wire::Envelope>();
  const MessageId id = MessageId::forEdge("test", key);
  envelope.setId(kj::arrayPtr(id.bytes.data(), id.bytes.size()));
  envelope.setMessageType(capnp::typeId<M>());
  envelope.setDestination(destination);
  envelope.setSource(source);
  envelope.setRecordedAt(
      std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count());
  envelope.setPayload(payload.asBytes());
  Words canonical = canonicalOf(envelope.asReader());
  auto bytes = asBytes(canonical);
  return Bytes(bytes.begin(), bytes.end());
}

}  // namespace idem::test
