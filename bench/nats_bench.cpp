// NATS end to end: the counter endpoint over NatsTransport against a relay written on nats.c
// alone (fetch, publish one output per input, wait for the PubAcks, ack; no state), in the same
// rig, each run on a fresh nats-server started here.
#include <nats/nats.h>

#include <optional>

#include "bench/bench_endpoint.h"
#include "bench/bus_rig.h"
#include "bench/raw_lmdb.h"
#include "framework/nats_client.h"
#include "framework/nats_fetch.h"
#include "framework/nats_layout.h"
#include "idem/endpoint.h"
#include "idem/nats_transport.h"
#include "tests/nats_server.h"

namespace idem::bench {

namespace {

using namespace detail::nats;

constexpr const char* kObserver = "observer";
constexpr const char* kRawConsumer = "raw_relay";

NatsTransportOptions transportOptions(const std::string& url) {
  NatsTransportOptions o = natsOptionsFor(url);
  o.ackWait = std::chrono::seconds(30);  // no redelivery while a run is under way
  return o;
}

// The physical limit of NATS here: what any correct relay must do per input, with nothing else.
// With `log`, it also appends each batch's inputs to a raw LMDB database in one commit before
// publishing: what any stateful consumer must pay on top (the second baseline).
void rawRelay(const std::string& url, std::size_t batch, const std::stop_token& stop,
              RawLmdb* log = nullptr) {
  const MDB_dbi appended = log ? log->db("log") : MDB_dbi{};
  std::uint64_t seq = 0;
  natsConnection* nc = nullptr;
  check(natsConnection_ConnectTo(&nc, url.c_str()), "raw relay: connecting to " + url);
  ConnectionPtr connection(nc);
  jsCtx* rawJs = nullptr;
  jsOptions jo;
  check(jsOptions_Init(&jo), "raw relay: options");
  check(natsConnection_JetStream(&rawJs, nc, &jo), "raw relay: JetStream");
  JsCtxPtr js(rawJs);
  const std::string stream = inputStream(kEndpointName);
  const std::string subject = inputSubject(kEndpointName, 0);
  jsSubOptions so;
  check(jsSubOptions_Init(&so), "raw relay: subscription options");
  so.Stream = stream.c_str();
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.AckWait = std::chrono::nanoseconds(std::chrono::seconds(30)).count();
  so.Config.MaxAckPending = NatsTransportOptions{}.maxAckPending;
  natsSubscription* rawSub = nullptr;
  jsErrCode error = static_cast<jsErrCode>(0);
  check(js_PullSubscribe(&rawSub, js.get(), subject.c_str(), kRawConsumer, nullptr, &so, &error),
        "raw relay: consumer on " + stream, error);
  SubscriptionPtr sub(rawSub);
  const std::string outputSubject = inputSubject(kObserver, 0);

  while (!stop.stop_requested()) {
    natsMsgList list{};
    jsFetchRequest request;
    check(jsFetchRequest_Init(&request), "raw relay: fetch options");
    request.Batch = static_cast<int>(batch);
    request.Expires = std::chrono::nanoseconds(std::chrono::milliseconds(25)).count();
    // The guard NatsTransport uses too: nats.c 3.4's fetch alone corrupts memory (nats_fetch.h).
    const natsStatus s = guardedFetch(list, sub.get(), request);
    std::unique_ptr<natsMsgList, Destroyer<natsMsgList, natsMsgList_Destroy>> owned(&list);
    if (list.Count == 0) {
      if (s == NATS_OK || s == NATS_TIMEOUT || s == NATS_NOT_FOUND) continue;
      check(s, "raw relay: fetching");
    }
    if (log != nullptr) {
      log->write([&](MDB_txn* txn) {
        for (int i = 0; i < list.Count; ++i) {
          const auto key = key16(0, ++seq);
          const auto* data = reinterpret_cast<const std::byte*>(natsMsg_GetData(list.Msgs[i]));
          put(txn, appended, key,
              std::span(data, static_cast<std::size_t>(natsMsg_GetDataLength(list.Msgs[i]))));
        }
      });
    }
    for (int i = 0; i < list.Count; ++i) {
      const auto* data = reinterpret_cast<const std::byte*>(natsMsg_GetData(list.Msgs[i]));
      const Outbound out = countedOutbound(incrementFacts(
          std::span(data, static_cast<std::size_t>(natsMsg_GetDataLength(list.Msgs[i])))));
      natsMsg* msg = nullptr;
      check(natsMsg_Create(&msg, outputSubject.c_str(), nullptr,
                           reinterpret_cast<const char*>(out.envelope.data()),
                           static_cast<int>(out.envelope.size())),
            "raw relay: output");
      check(natsMsgHeader_Set(msg, kMsgIdHeader, out.id.toHex().c_str()), "raw relay: header");
      const natsStatus p = js_PublishMsgAsync(js.get(), &msg, nullptr);
      natsMsg_Destroy(msg);  // null when the library took it
      check(p, "raw relay: publishing");
    }
    jsPubOptions wait;
    check(jsPubOptions_Init(&wait), "raw relay: publish options");
    wait.MaxWait = 10'000;
    check(js_PublishAsyncComplete(js.get(), &wait), "raw relay: waiting for PubAcks");
    for (int i = 0; i < list.Count; ++i)
      check(natsMsg_Ack(list.Msgs[i], nullptr), "raw relay: ack");
  }
}

Figures figuresOf(const BusRun& run) {
  return {run.perSecond, percentile(run.latenciesMs, 50), percentile(run.latenciesMs, 99),
          std::nullopt};
}

Figures idemOverNats(const Settings& s) {
  test::NatsServer server;
  ScratchDir dir("nats-idem");
  NatsTransport rig(transportOptions(server.url()));
  // Before the endpoint's transport loads the subscription bucket: its outputs then reach the
  // observer from the first one.
  rig.subscribe(kObserver, capnp::typeId<Counted>());
  NatsTransport endpointTransport(transportOptions(server.url()));
  EndpointOptions options;
  options.storeDirectory = dir.path() / "store";
  options.batchSize = s.batch;
  options.durable = s.durable;
  Endpoint endpoint(counterHandlers(), endpointTransport, options);
  return figuresOf(runRig(
      s, rig, [&](std::stop_token stop) { endpoint.run(stop); }, /*rate=*/0));
}

Figures rawRelayOverNats(const Settings& s, bool withLog) {
  test::NatsServer server;
  NatsTransport rig(transportOptions(server.url()));
  rig.subscribe(kEndpointName, capnp::typeId<Increment>());  // creates the input stream
  ScratchDir dir("nats-relay-log");
  std::optional<RawLmdb> log;
  if (withLog) log.emplace(dir.path(), s.durable);
  return figuresOf(runRig(
      s, rig,
      [&](std::stop_token stop) { rawRelay(server.url(), s.batch, stop, log ? &*log : nullptr); },
      /*rate=*/0));
}

std::string describe(const Figures& f) {
  return thousands(f.perSecond) + " msg/s  e2e p50 " + fixed(f.p50Ms, 2) + " ms p99 " +
         fixed(f.p99Ms, 2) + " ms";
}

}  // namespace

std::vector<Row> runNats(const Settings& s) {
  std::vector<Figures> idem, raw, logged;
  for (unsigned run = 0; run < s.runs; ++run) {
    idem.push_back(idemOverNats(s));
    raw.push_back(rawRelayOverNats(s, false));
    logged.push_back(rawRelayOverNats(s, true));
  }
  const Figures i = medianOf(idem), r = medianOf(raw), l = medianOf(logged);
  const std::string shape = std::to_string(s.entities) + " entities, batch " +
                            std::to_string(s.batch) +
                            (s.durable ? ", store durable" : ", store NOT durable");
  return {{.key = "nats-e2e-vs-relay",
           .name = "NATS end to end (send -> output observed) vs raw nats.c relay, " + shape,
           .idem = i.perSecond,
           .baseline = r.perSecond,
           .unit = "msg/s",
           .idemText = describe(i),
           .baselineText = "raw nats.c relay " + describe(r),
           .target = ">= 0.8x",
           .met = i.perSecond >= 0.8 * r.perSecond},
          {.key = "nats-e2e-vs-relay-with-append",
           .name = "NATS end to end vs raw nats.c relay + one raw LMDB append commit per batch, " +
                   shape,
           .idem = i.perSecond,
           .baseline = l.perSecond,
           .unit = "msg/s",
           .idemText = describe(i),
           .baselineText = "relay + LMDB append " + describe(l),
           .target = ">= 0.9x",
           .met = i.perSecond >= 0.9 * l.perSecond}};
}

}  // namespace idem::bench
