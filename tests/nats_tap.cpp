// NatsTap: a synchronous core-NATS subscription drained on demand.
#include "tests/nats_tap.h"

#include <nats/nats.h>

#include <stdexcept>

namespace idem::test {

namespace {
void require(natsStatus s, const std::string& what) {
  if (s != NATS_OK) throw std::runtime_error(what + ": " + natsStatus_GetText(s));
}
}  // namespace

struct NatsTap::Impl {
  natsConnection* connection = nullptr;
  natsSubscription* subscription = nullptr;
  ~Impl() {
    natsSubscription_Destroy(subscription);
    natsConnection_Close(connection);
    natsConnection_Destroy(connection);
  }
};

NatsTap::NatsTap(const std::string& url, const std::string& subject)
    : impl_(std::make_unique<Impl>()) {
  natsOptions* options = nullptr;
  require(natsOptions_Create(&options), "tap options");
  natsStatus s = natsOptions_SetURL(options, url.c_str());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(options, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(options, 50);
  if (s == NATS_OK) s = natsConnection_Connect(&impl_->connection, options);
  natsOptions_Destroy(options);
  require(s, "tap connecting to " + url);
  require(natsConnection_SubscribeSync(&impl_->subscription, impl_->connection, subject.c_str()),
          "tap subscribing to " + subject);
  require(natsSubscription_SetPendingLimits(impl_->subscription, -1, -1), "tap limits");
  require(natsConnection_FlushTimeout(impl_->connection, 5000), "tap subscription");
}

NatsTap::~NatsTap() = default;

std::vector<Bytes> NatsTap::take() {
  natsConnection_FlushTimeout(impl_->connection, 1000);  // down or slow: what arrived so far
  std::vector<Bytes> out;
  natsMsg* msg = nullptr;
  while (natsSubscription_NextMsg(&msg, impl_->subscription, 0) == NATS_OK) {
    const auto* data = reinterpret_cast<const std::byte*>(natsMsg_GetData(msg));
    out.emplace_back(data, data + natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
  }
  return out;
}

}  // namespace idem::test
