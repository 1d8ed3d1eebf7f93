// CallRunner: one batch at a time; each exchange made in turn on one kept-alive connection.
#include "calls/call_runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <thread>
#include <vector>

#include "calls/call_records.capnp.h"
#include "calls/http_client.h"
#include "idem/canonical.h"
#include "idem/edge.h"
#include "idem/envelope.capnp.h"
#include "idem/error.h"
#include "idem/http_call.h"

namespace idem::calls {

namespace {

using records::CallExchange;
using records::CallExchangeResult;
using records::Step;
using Outcome = wire::HttpCallResult::Outcome;

// What the runner needs of one CallExchange, copied out of its delivery.
struct Exchange {
  MessageId id;  // the exchange message's id
  Step step = Step::PUT;
  MessageId callId;
  std::string service;
  std::string path;
  std::string contentType;
  std::string body;
};

Exchange decode(const Bytes& envelopeBytes) {
  CanonicalReader envelopeReader(envelopeBytes, "envelope");
  auto envelope = envelopeReader.root<wire::Envelope>();
  Exchange x;
  auto id = envelope.getId();
  auto parsed = MessageId::fromBytes(std::span<const std::uint8_t>(id.begin(), id.size()));
  if (!parsed) fail(ErrorKind::kPermanent, "the envelope's id is not 16 bytes");
  x.id = *parsed;
  if (envelope.getMessageType() != capnp::typeId<CallExchange>()) {
    fail(ErrorKind::kPermanent, "not a CallExchange: message type " +
                                    std::to_string(envelope.getMessageType()) + " on queue " +
                                    std::string(kCallsRunnerQueue));
  }
  auto payloadBytes = envelope.getPayload();
  CanonicalReader payloadReader(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(payloadBytes.begin()),
                                 payloadBytes.size()),
      "payload");
  auto exchange = payloadReader.root<CallExchange>();
  auto request = exchange.getRequest();
  auto callId = request.getCallId();
  auto call = MessageId::fromBytes(std::span<const std::uint8_t>(callId.begin(), callId.size()));
  if (!call) fail(ErrorKind::kPermanent, "the call's id is not 16 bytes");
  x.step = exchange.getStep();
  x.callId = *call;
  x.service = request.getService();
  x.path = request.getPath();
  x.contentType = request.getContentType();
  if (x.contentType.empty()) x.contentType = "application/json";
  auto body = request.getBody();
  x.body.assign(reinterpret_cast<const char*>(body.begin()), body.size());
  return x;
}

const char* methodOf(Step step) {
  switch (step) {
    case Step::PUT:
      return "PUT";
    case Step::POST:
      return "POST";
    case Step::DELETE:
      return "DELETE";
  }
  return "?";
}

// What to do with an exchange after one attempt.
struct Verdict {
  bool final = false;
  std::chrono::milliseconds retryIn{0};  // when not final
  Outcome outcome = Outcome::RESPONSE;
  std::uint16_t status = 0;
  std::string contentType;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // the service's Idem-* headers
  std::string why;                                           // for the log, when not final
};

bool retriable(long status) {
  return status == 0 || status >= 500 || status == 401 || status == 403 || status == 408 ||
         status == 429;
}

std::chrono::milliseconds backoff(std::uint32_t attempt) {
  const auto exponent = std::min<std::uint32_t>(attempt, 7);
  return std::min(std::chrono::milliseconds(10'000), std::chrono::milliseconds(100 << exponent));
}

Verdict judge(Step step, const HttpResult& r, std::uint32_t attempt) {
  Verdict v;
  if (step == Step::POST && r.status == 202) {  // ran, outcome not recorded yet: ask again
    v.retryIn = std::chrono::milliseconds(std::min<std::uint32_t>(200 * attempt, 2000));
    v.why = "202 (not recorded yet)";
    return v;
  }
  if (retriable(r.status)) {
    v.retryIn = backoff(attempt);
    v.why = r.status == 0 ? r.error : "HTTP " + std::to_string(r.status);
    return v;
  }
  v.final = true;
  v.contentType = r.header("content-type");
  v.body = r.body;
  if (r.status >= 200 && r.status < 300) {
    v.outcome = Outcome::RESPONSE;
    v.status = static_cast<std::uint16_t>(r.status);
    if (step == Step::POST) {
      const std::string outcome = r.header("idem-outcome-status");
      std::uint16_t status = 0;
      const auto [end, ec] =
          std::from_chars(outcome.data(), outcome.data() + outcome.size(), status);
      if (ec == std::errc() && end == outcome.data() + outcome.size()) v.status = status;
      for (const auto& [name, value] : r.headers) {
        if (name.rfind("idem-", 0) == 0) v.headers.emplace_back(name, value);
      }
    }
    return v;
  }
  v.status = static_cast<std::uint16_t>(r.status);
  v.outcome = r.status == 410 && r.body.find("request-expired") != std::string::npos
                  ? Outcome::EXPIRED
                  : Outcome::REFUSED;
  return v;
}

Verdict expired(const Exchange& x) {
  Verdict v;
  v.final = true;
  v.outcome = Outcome::EXPIRED;
  v.contentType = "text/plain; charset=utf-8";
  v.body = std::string("the call was older than the runner's maxCallAge before its ") +
           methodOf(x.step) + " succeeded";
  return v;
}

Outbound answerOf(const Exchange& x, const Verdict& v) {
  const std::string callKey = x.callId.toHex();
  EdgeAddress address;
  address.id = MessageId::forEdge("idem.calls.runner.v1", x.id.toHex(), x.id.createdAt());
  address.destination = kCallsEndpoint;
  address.recordedAt = std::chrono::system_clock::now();
  address.entityKey = callKey;
  Bytes envelope = edgeMessage<CallExchangeResult>(address, [&](CallExchangeResult::Builder a) {
    a.setCallId(kj::arrayPtr(x.callId.bytes.data(), x.callId.bytes.size()));
    a.setStep(x.step);
    a.setOutcome(v.outcome);
    a.setStatus(v.status);
    a.setContentType(v.contentType);
    a.setBody(kj::arrayPtr(reinterpret_cast<const kj::byte*>(v.body.data()), v.body.size()));
    auto headers = a.initHeaders(static_cast<unsigned>(v.headers.size()));
    for (unsigned i = 0; i < v.headers.size(); ++i) {
      headers[i].setName(v.headers[i].first);
      headers[i].setValue(v.headers[i].second);
    }
  });
  Outbound out = edgeOutbound(address, capnp::typeId<CallExchangeResult>(), std::move(envelope));
  // The answer reports an effect that already happened: like a committed output, it must not
  // be refused for the calls endpoint's depth (that would repeat the exchange for ever).
  out.committed = true;
  return out;
}

}  // namespace

struct CallRunner::Impl {
  Transport& transport;
  CallRunnerOptions options;
  HttpClient client;

  Impl(Transport& t, CallRunnerOptions o)
      : transport(t), options(std::move(o)), client(options.requestTimeout, options.tls) {}

  HttpResult exchange(const Exchange& x, const std::string& base) {
    std::string url = base;
    while (!url.empty() && url.back() == '/') url.pop_back();
    url += x.path + "/requests/" + x.callId.toHex();
    std::vector<std::string> headers;
    if (!options.bearerToken.empty())
      headers.push_back("Authorization: Bearer " + options.bearerToken);
    if (x.step == Step::PUT) {
      headers.push_back("Content-Type: " + x.contentType);
      return client.request("PUT", url, headers, x.body);
    }
    return client.request(methodOf(x.step), url, headers);
  }
};

CallRunner::CallRunner(Transport& transport, CallRunnerOptions options)
    : impl_(std::make_unique<Impl>(transport, std::move(options))) {}

CallRunner::~CallRunner() = default;

std::size_t CallRunner::runOnce(std::chrono::milliseconds maxWait) {
  Transport& transport = impl_->transport;
  const std::string queue(kCallsRunnerQueue);
  std::vector<Delivery> batch = transport.receive(queue, impl_->options.batch, maxWait);
  std::vector<Outbound> answers;
  std::vector<std::uint64_t> acks;
  for (const Delivery& d : batch) {
    Exchange x;
    try {
      x = decode(d.envelope);
    } catch (const Error& e) {
      transport.deadLetter(queue, d.tag,
                           {"not an exchange of the calls endpoint", e.what(), d.attempt,
                            std::chrono::system_clock::now()});
      continue;
    }
    const auto service = impl_->options.services.find(x.service);
    if (service == impl_->options.services.end()) {
      spdlog::error("call {}: no URL for service '{}' (--call-service {}=URL): error queue",
                    x.callId.toHex(), x.service, x.service);
      transport.deadLetter(queue, d.tag,
                           {"no URL for service '" + x.service + "'",
                            "give one with --call-service " + x.service +
                                "=URL (or [call-services] in the config file), then retry it "
                                "from the error queue",
                            d.attempt, std::chrono::system_clock::now()});
      continue;
    }
    const bool tooOld =
        std::chrono::system_clock::now() - x.callId.createdAt() > impl_->options.maxCallAge;
    Verdict v;
    if (tooOld && x.step == Step::PUT) {
      v = expired(x);  // never PUT a call the service would take for new after its tombstone
    } else {
      v = judge(x.step, impl_->exchange(x, service->second), d.attempt);
      if (!v.final && tooOld) v = expired(x);
    }
    if (!v.final) {
      spdlog::warn("call {}: {} on service {}: {}; again in {} ms (attempt {})", x.callId.toHex(),
                   methodOf(x.step), x.service, v.why, v.retryIn.count(), d.attempt);
      transport.retryLater(queue, d.tag, v.retryIn);
      continue;
    }
    spdlog::debug("call {}: {} on service {} answered {}", x.callId.toHex(), methodOf(x.step),
                  x.service, v.status);
    if (impl_->options.afterExchange) impl_->options.afterExchange(methodOf(x.step));
    answers.push_back(answerOf(x, v));
    acks.push_back(d.tag);
  }
  if (!answers.empty() || !acks.empty()) transport.settle(queue, answers, acks, 0);
  return batch.size();
}

void CallRunner::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    try {
      runOnce(std::chrono::milliseconds(200));
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kPermanent || e.kind() == ErrorKind::kBug) throw;
      spdlog::warn("call runner: {}; again in 500 ms", e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
}

std::pair<std::string, std::string> parseServiceFlag(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size() ||
      text.compare(eq + 1, 4, "http") != 0) {
    fail(ErrorKind::kPermanent,
         "--call-service wants NAME=URL (e.g. provider=http://127.0.0.1:8081), not '" + text + "'");
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

}  // namespace idem::calls
