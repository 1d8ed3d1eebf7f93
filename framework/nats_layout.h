// NATS layout: the names and headers the NATS transport puts on the wire. Every name derives
// from an endpoint name E, which must match [A-Za-z0-9_-]{1,64} (no subject or stream
// separators). P is E's partition count, N in [0, P); an entity with key K is in partition
// partitionOf(K, P) (include/idem/partitioning.h).
//
//   stream    IDEM_IN_E           subjects idem.in.E.>; work-queue retention (a message is
//                                 removed when acked), file storage, R replicas, duplicate
//                                 window W
//   subject   idem.in.E.p<N>      partition N's inputs
//   consumer  idem_E_p<N>         durable pull consumer on IDEM_IN_E, filter idem.in.E.p<N>,
//                                 explicit ack, AckWait = the lease, MaxDeliver unlimited
//                                 (idem counts deliveries itself), deliver all
//   stream    IDEM_ERR_E          subject idem.err.E; limits retention (kept until purged)
//   bucket    idem_subscriptions  KV; key <message type, 16 hex digits>.E, value "1": E receives
//                                 the published (destination-less) messages of that type
//   bucket    idem_partitions     KV; key E, value P in decimal (1 to 4096); written once, by
//                                 the first process that declares or needs it (absent = 1)
//
// An input message:   body = the canonical envelope bytes, as sent; headers
//   Nats-Msg-Id        the message id, 32 hex digits (the server drops copies within W)
//   Idem-Type          the message type, 16 hex digits
//   Idem-Deliver-At    not before this time: ns since the Unix epoch, decimal; absent = at once
// A copy forwarded by a receiver from a partition it does not belong to (its sender routed it by
// a wrong entityKey hint) gets Nats-Msg-Id = <message id>-p<N>, N its right partition.
// An error message:   body = the original bytes, as received; headers
//   Nats-Msg-Id        <consumer>-<stream sequence of the original> (one entry per original)
//   Idem-Endpoint, Idem-Reason, Idem-Detail, Idem-Attempts, Idem-Failed-At (ns, decimal);
//   Reason and Detail are percent-escaped for '%', CR and LF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace idem::detail::nats {

inline constexpr const char* kSubscriptionBucket = "idem_subscriptions";
inline constexpr const char* kPartitionBucket = "idem_partitions";
inline constexpr const char* kMsgIdHeader = "Nats-Msg-Id";
inline constexpr const char* kTypeHeader = "Idem-Type";
inline constexpr const char* kDeliverAtHeader = "Idem-Deliver-At";
inline constexpr const char* kEndpointHeader = "Idem-Endpoint";
inline constexpr const char* kReasonHeader = "Idem-Reason";
inline constexpr const char* kDetailHeader = "Idem-Detail";
inline constexpr const char* kAttemptsHeader = "Idem-Attempts";
inline constexpr const char* kFailedAtHeader = "Idem-Failed-At";

// True when `endpoint` can name streams, subjects and consumers.
bool validEndpointName(std::string_view endpoint) noexcept;
// Throws idem::Error (permanent) naming `endpoint` unless validEndpointName().
void requireEndpointName(std::string_view endpoint);

std::string inputStream(std::string_view endpoint);
std::string inputSubjects(std::string_view endpoint);  // the stream's wildcard
std::string inputSubject(std::string_view endpoint, std::uint32_t partition);
std::string consumerName(std::string_view endpoint, std::uint32_t partition);
std::string errorStream(std::string_view endpoint);
std::string errorSubject(std::string_view endpoint);

std::string subscriptionKey(std::uint64_t messageType, std::string_view endpoint);
// The (type, endpoint) of a subscription key; false when `key` is not one.
bool parseSubscriptionKey(std::string_view key, std::uint64_t& messageType, std::string& endpoint);

std::string typeHex(std::uint64_t messageType);
// The bytes an input message's headers take on the wire (nats.c encodes them as
// "NATS/1.0\r\n", then "Name: value\r\n" each, then "\r\n"): Nats-Msg-Id, Idem-Type, and
// Idem-Deliver-At when `deliverAtNs` > 0. The server's max_payload bounds headers + body.
std::size_t inputHeaderBytes(std::int64_t deliverAtNs);
// Percent-escapes '%', CR and LF, so that any text fits in one header value.
std::string escapeHeader(std::string_view text);
std::string unescapeHeader(std::string_view text);

}  // namespace idem::detail::nats
