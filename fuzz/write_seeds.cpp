// idem-fuzz-seeds DIR: writes the seed corpus, a few valid inputs per fuzz target, into
// DIR/<target>/seed-N (fuzz/corpus is its committed output; docs/fuzzing.md).
#include <capnp/message.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "idem/canonical.h"
#include "idem/edge.h"
#include "store/bus_layout.h"
#include "store/log_record.h"
#include "tests/test_messages.capnp.h"
#include "tools/json_messages.h"

namespace {

namespace fs = std::filesystem;
using idem::Bytes;

std::string text(const Bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

void write(const fs::path& dir, const std::string& target, const std::vector<std::string>& seeds) {
  fs::create_directories(dir / target);
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream(dir / target / ("seed-" + std::to_string(i + 1)), std::ios::binary) << seeds[i];
  }
}

idem::EdgeAddress address(const char* key) {
  return {idem::MessageId::forEdge("fuzz", key), "counter", {}, {}};
}

std::vector<Bytes> envelopes() {
  using namespace idem::test;
  std::vector<Bytes> out;
  out.push_back(idem::edgeMessage<Increment>(address("1"), [](Increment::Builder m) {
    m.setCounterId("c1");
    m.setBy(2);
    m.setOutputs(3);
  }));
  out.push_back(
      idem::edgeMessage<Ping>(address("2"), [](Ping::Builder m) { m.setCounterId("c"); }));
  out.push_back(idem::edgeMessage<Flaky>(address("3"), [](Flaky::Builder m) {
    m.setCounterId("flaky");
    m.setFailures(1);
    m.setPermanent(true);
  }));
  idem::EdgeAddress routed = address("4");
  routed.entityKey = "c1";
  out.push_back(idem::edgeMessage<Increment>(routed, [](Increment::Builder m) {
    m.setCounterId("c1");
    m.setForward("sink");
  }));
  return out;
}

// A log record (store/log_record.h) preceded by its 8-byte sequence number, as the fuzz target
// reads its input.
std::string logRecord(const Bytes& input, std::uint64_t version, bool withState) {
  idem::store::HistoryEntry entry;
  entry.handlerId = "increment";
  entry.handlerVersion = 1;
  entry.outputCount = 3;
  entry.recordedAtNs = 1'700'000'000'000'000'000;
  entry.outputDigest[0] = 0xab;
  entry.stateChanged = withState;
  entry.input = input;
  const std::vector<std::byte> state(16, std::byte{0x11});
  const std::optional<std::span<const std::byte>> inline_ =
      withState ? std::optional<std::span<const std::byte>>(state) : std::nullopt;
  std::string out(8 + idem::store::logRecordBytes(entry, inline_), '\0');
  const std::uint64_t seq = 9;
  std::memcpy(out.data(), &seq, 8);
  idem::store::encodeLogRecord(
      std::span(reinterpret_cast<std::byte*>(out.data()) + 8, out.size() - 8),
      {1, version, version == 1 ? std::uint64_t{0} : std::uint64_t{4}}, entry, inline_);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: idem-fuzz-seeds DIR\n");
    return 2;
  }
  const fs::path dir = argv[1];
  const std::vector<Bytes> env = envelopes();

  std::vector<std::string> envelopeSeeds;
  for (const Bytes& e : env) envelopeSeeds.push_back(text(e));
  write(dir, "fuzz_envelope", envelopeSeeds);

  // First byte: 0 reads in place, 1 from an unaligned copy.
  std::vector<std::string> canonicalSeeds;
  for (std::size_t i = 0; i < 3; ++i)
    canonicalSeeds.push_back(std::string(1, char(i % 2)) + text(env[i]));
  write(dir, "fuzz_canonical", canonicalSeeds);

  write(dir, "fuzz_history", {logRecord(env[0], 1, true), logRecord(env[1], 2, false)});

  namespace bus = idem::store::bus;
  const auto envelopeSpan = std::span<const std::byte>(env[1]);
  idem::ErrorReport report{"unknown message type 0x1", "detail\nline 2", 3, {}};
  write(dir, "fuzz_bus_records",
        {std::string(1, '\0') + bus::encodeCounts({1, 2, 3, 4}),
         std::string(1, '\1') + bus::encodeMessage(2, "counter", envelopeSpan),
         std::string(1, '\2') + bus::encodeLease(1'700'000'000'000'000'000, 42),
         std::string(1, '\3') + bus::be64(9) + bus::encodeError(report, envelopeSpan)});

  // First byte: 0 Lists, 1 Counted, 2 Envelope (fuzz/fuzz_json.cpp).
  write(
      dir, "fuzz_json",
      {std::string(1, '\0') +
           R"({"items":[{"name":"a","count":1},{"name":"b"}],"numbers":[1,2,3],"names":["x","y"]})",
       std::string(1, '\1') +
           R"({"counterId":"c1","value":"18446744073709551615","index":2,"token":[1,2,3],"at":"-5"})",
       std::string(1, '\2') +
           R"({"id":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16],"messageType":"12345","destination":"counter","headers":[{"name":"a","value":"b"}],"payload":[0,0,0,0,0,0,0,0]})"});

  // Fields separated by NUL: reason, detail, attempts, failedAt, deliver-at, subscription key,
  // body.
  using namespace std::string_literals;
  write(dir, "fuzz_nats_headers",
        {"unknown message type 0x1\0stack%0Aline 2 %25\0003\0001700000000000000000\0"
         "1700000000000000001\0000000000000abcdef.counter\0body"s,
         "\0\0\0\0\0\0"s + text(env[0]),
         "r\0d\0-1\0x\0999999999999999999999\0ffffffffffffffff.a-b_c\0"s});
  std::printf("seeds written to %s\n", dir.c_str());
  return 0;
}
