// Invocation: one run of one handler on one input: the facts the Context serves, the outputs
// it collects, and their conversion into canonical envelopes with derived ids and a digest.
#pragma once

#include <capnp/message.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "idem/context.h"
#include "idem/message_id.h"
#include "idem/transport.h"

namespace idem::detail {

// Everything a run may depend on besides the state and the input's payload. Views must outlive
// the Invocation.
struct InputFacts {
  std::string_view endpoint;
  std::string_view entityType;
  std::string_view entityKey;
  MessageId inputId;
  MessageId correlationId;  // zero: the input starts a conversation (its own id is used)
  std::string_view inputSource;
  std::int64_t recordedAtNs = 0;  // this endpoint's time at first processing
};

using Digest = std::array<std::uint8_t, 32>;

// The outputs of one run, ready to publish, and the digest recorded in the history entry.
struct Emitted {
  std::vector<Outbound> messages;
  Digest digest{};
};

// BLAKE2b-256 over each envelope as (u64 big-endian length, bytes), in emission order.
Digest digestOf(const std::vector<Outbound>& messages);

class Invocation {
 public:
  explicit Invocation(const InputFacts& facts);
  Invocation(const Invocation&) = delete;
  Invocation& operator=(const Invocation&) = delete;

  Context& context() { return context_; }
  const InputFacts& facts() const { return facts_; }

  // Builds the canonical envelopes of every output, in emission order. Call once, after the
  // handler returned normally.
  Emitted finish();

 private:
  friend class idem::Context;
  struct Output {
    std::uint64_t messageType = 0;
    std::string destination;
    TimePoint deliverAt{};
    std::unique_ptr<capnp::MallocMessageBuilder> message;
  };

  InputFacts facts_;
  MessageId correlationId_;
  // Seeded from the input id on the first Context::random() call: most handlers never ask, and
  // the seed is a BLAKE2b of its own.
  std::optional<std::uint64_t> randomState_;
  std::uint64_t newIdCount_ = 0;
  std::vector<Output> outputs_;
  Context context_;
};

}  // namespace idem::detail
