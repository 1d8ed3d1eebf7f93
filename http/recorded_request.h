// RecordedRequest: what an endpoint's store says about one request id (applied index, then the
// version's log record, then a re-run of its handler), read without any copy kept by the
// gateway: the recorded input (to tell a retry from a reused key) and the reply its handler
// emitted (to answer a retry byte for byte).
#pragma once

#include <capnp/schema.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "idem/message_id.h"
#include "idem/transport.h"
#include "tools/apps.h"

namespace idem::tools {
class StoreView;
}

namespace idem::http {

struct RecordedRequest {
  std::string entity;  // "TYPE/KEY"
  std::uint64_t version = 0;
  std::int64_t appliedAtNs = 0;
  // False when retention pruned the version's history (the applied entry outlives it): then the
  // input and the reply are gone, only "it was processed" is known.
  bool historyKept = true;
  std::uint64_t messageType = 0;
  Bytes payload;  // the recorded input's canonical payload bytes
  // The first output of the version addressed to the gateway's reply queue, if any.
  struct Reply {
    std::uint64_t messageType = 0;
    Bytes payload;  // canonical
  };
  std::optional<Reply> reply;
};

// One endpoint's store, opened read-only on first use (the endpoint may start after the
// gateway). Not thread-safe: one thread at a time.
class RecordedRequests {
 public:
  // `app` must outlive this.
  RecordedRequests(std::filesystem::path storeDirectory, const tools::App& app,
                   std::string endpoint);
  ~RecordedRequests();

  // nullopt when `id` was not applied here (or the store does not exist or open yet). Throws
  // idem::Error (bug) when the re-run does not reproduce the recorded output digest, and
  // idem::Error when the store cannot be read.
  std::optional<RecordedRequest> find(const MessageId& id, std::string_view replyQueue);

 private:
  std::filesystem::path directory_;
  const tools::App& app_;
  std::string endpoint_;
  std::unique_ptr<tools::StoreView> view_;
};

}  // namespace idem::http
