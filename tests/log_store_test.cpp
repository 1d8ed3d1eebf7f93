// Store format 2 (docs/storage-format.md): log records byte for byte, point-in-time states
// through each entity's back-chain, and a format-1 store refused with advice.
#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "framework/state_loader.h"
#include "idem/edge.h"
#include "idem/error.h"
#include "store/lmdb_env.h"
#include "store/log_record.h"
#include "store/version_store.h"
#include "tests/sim_world.h"
#include "tests/temp_dir.h"
#include "tests/test_endpoints.h"

namespace idem::test {
namespace {

Bytes increment(const std::string& key, const std::string& counter, std::uint32_t by) {
  return edgeMessage<Increment>(
      {MessageId::forEdge("test", key), "counters", TimePoint(std::chrono::hours(500000))},
      [&](Increment::Builder m) {
        m.setCounterId(counter);
        m.setBy(by);
      });
}

std::uint64_t valueOf(kj::ArrayPtr<const capnp::word> state) {
  if (state.size() == 0) return 0;
  CanonicalReader reader(asBytes(state), "state");
  return reader.root<Counter>().getValue();
}

}  // namespace

TEST_CASE("a log record encodes to its grammar and decodes back to the same fields",
          "[store][format2]") {
  std::vector<std::uint64_t> input(5, 0x0102030405060708);
  std::vector<std::uint64_t> state(2, 0x1111111111111111);
  store::HistoryEntry entry;
  entry.handlerId = "increment";  // 9 bytes: padded to 16
  entry.handlerVersion = 3;
  entry.recordedAtNs = -5;
  entry.outputCount = 2;
  entry.outputDigest[0] = 0xab;
  entry.outputDigest[31] = 0xcd;
  entry.stateChanged = true;
  entry.input = std::as_bytes(std::span(input));
  const std::optional<std::span<const std::byte>> inState = std::as_bytes(std::span(state));
  std::vector<std::uint64_t> out(store::logRecordBytes(entry, inState) / 8);
  REQUIRE(out.size() * 8 == 88 + 16 + 40 + 16);
  const auto bytes = std::as_writable_bytes(std::span(out));
  store::encodeLogRecord(bytes, {7, 2, 3}, entry, inState);
  // Little-endian header fields at their documented offsets.
  CHECK(bytes[0] == std::byte{7});
  CHECK(bytes[8] == std::byte{2});
  CHECK(bytes[16] == std::byte{3});
  CHECK(bytes[24] == std::byte{0xfb});
  CHECK(bytes[50] == std::byte{3});  // stateChanged | hasState
  CHECK(std::memcmp(bytes.data() + 88, "increment\0\0\0\0\0\0\0", 16) == 0);

  const store::LogRecord record = store::decodeLogRecord(bytes, 9, "record");
  CHECK(record.seq == 9);
  CHECK(record.entity == 7);
  CHECK(record.version == 2);
  CHECK(record.prevSeq == 3);
  CHECK(record.entry.handlerId == "increment");
  CHECK(record.entry.handlerVersion == 3);
  CHECK(record.entry.recordedAtNs == -5);
  CHECK(record.entry.outputCount == 2);
  CHECK(record.entry.outputDigest == entry.outputDigest);
  CHECK(record.entry.stateChanged);
  CHECK(std::ranges::equal(record.entry.input, entry.input));
  REQUIRE(record.state.has_value());
  CHECK(std::ranges::equal(*record.state, *inState));

  // Damage is named, never trusted.
  const auto refused = [&](std::size_t offset, std::byte value, std::uint64_t seq = 9) {
    std::vector<std::uint64_t> copy = out;
    std::as_writable_bytes(std::span(copy))[offset] = value;
    try {
      store::decodeLogRecord(std::as_bytes(std::span(copy)), seq, "record 9");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::kPermanent);
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(refused(52, std::byte{1}).find("reserved") != std::string::npos);
  CHECK(refused(50, std::byte{7}).find("flag") != std::string::npos);
  CHECK(refused(40, std::byte{48}).find("size") != std::string::npos);            // inputBytes 48
  CHECK(refused(16, std::byte{9}).find("previous record") != std::string::npos);  // prev == seq
  CHECK(refused(100, std::byte{1}).find("padding") != std::string::npos);
  CHECK_THROWS_AS(store::decodeLogRecord(bytes.first(80), 9, "short"), Error);
}

TEST_CASE("every version's state loads through the entity's back-chain, whatever the policy",
          "[store][format2][pipeline]") {
  const unsigned every = GENERATE(1u, 4u);
  SimWorld world;
  EndpointOptions options;
  options.snapshotEvery = every;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, options);
  // Two entities interleaved, so that each one's records are not adjacent in the log.
  for (std::uint32_t i = 1; i <= 10; ++i) {
    world.sendRaw("counters", increment("a-" + std::to_string(i), "a", i));
    world.sendRaw("counters", increment("b-" + std::to_string(i), "b", 100 * i));
    world.runUntilQuiet();
  }
  world.closeAll();
  Handlers handlers = counterHandlers("counters");
  store::VersionStore store(world.storeOf("counters"), "counters");
  detail::StateLoader loader(store, handlers);
  store.read([&](store::Txn& txn) {
    const std::uint64_t a = *store.findEntity(txn, "counter", "a");
    const std::uint64_t b = *store.findEntity(txn, "counter", "b");
    CHECK(store.headVersion(txn, a) == 10);
    CHECK(store.retainedRecords(txn, a).size() == 10);
    std::uint64_t sum = 0;
    for (std::uint64_t v = 0; v <= 10; ++v) {
      sum += v;
      INFO("snapshotEvery " << every << ", version " << v);
      CHECK(valueOf(loader.load(txn, a, v).words()) == sum);
      CHECK(valueOf(loader.load(txn, b, v).words()) == 100 * sum);
      if (v == 0) continue;
      // From the input's own record, as a duplicate finds it: the state that input saw.
      const auto applied =
          store.findApplied(txn, MessageId::forEdge("test", "a-" + std::to_string(v)));
      REQUIRE(applied.has_value());
      CHECK(applied->version == v);
      CHECK(valueOf(loader.loadBefore(txn, *applied).words()) == sum - v);
      const auto record = store.findRecord(txn, applied->seq);
      REQUIRE(record.has_value());
      CHECK(record->version == v);
      CHECK(record->state.has_value() == (v % every == 0));
    }
  });
}

TEST_CASE("a format-1 store is refused with its format named and what to do", "[store][format2]") {
  TempDir dir;
  {
    store::LmdbEnv env(dir.path(), store::EnvOptions{});
    env.write([&](store::Txn& txn) {
      const MDB_dbi meta = *env.openDb(txn, "meta", true);
      REQUIRE(txn.put(meta, store::asBytes("format"), store::asBytes("idem.version-store/1")));
      REQUIRE(txn.put(meta, store::asBytes("endpoint"), store::asBytes("bank")));
    });
  }
  for (const bool readOnly : {false, true}) {
    store::StoreOptions options;
    options.readOnly = readOnly;
    try {
      store::VersionStore store(dir.path(), "bank", options);
      FAIL("a format-1 store was opened");
    } catch (const Error& e) {
      const std::string message = e.what();
      CHECK(e.kind() == ErrorKind::kPermanent);
      CHECK(message.find("format 1") != std::string::npos);
      CHECK(message.find("format 2") != std::string::npos);
      CHECK(message.find("data.mdb") != std::string::npos);
    }
  }
}

TEST_CASE("the publication set is one range per write and splits where a confirmation is missing",
          "[store][format2]") {
  TempDir dir;
  store::VersionStore store(dir.path(), "counters");
  std::vector<std::uint64_t> input(2, 7), state(1, 9);
  const auto append = [&](store::Txn& txn, std::uint64_t entity, std::uint64_t version, int id,
                          std::uint32_t outputs) {
    store::HistoryEntry entry;
    entry.handlerId = "h";
    entry.outputCount = outputs;
    entry.stateChanged = true;
    entry.input = std::as_bytes(std::span(input));
    return store.append(txn, entity, version, MessageId::forEdge("t", std::to_string(id)), entry,
                        std::as_bytes(std::span(state)));
  };
  const auto owed = [&] {
    std::vector<std::uint64_t> seqs;
    store.read([&](store::Txn& txn) {
      store.forEachUnpublished(txn, 0, [&](std::uint64_t seq) {
        seqs.push_back(seq);
        return true;
      });
    });
    return seqs;
  };
  store.write([&](store::Txn& txn) {
    const std::uint64_t a = store.createEntity(txn, "counter", "a");
    const std::uint64_t b = store.createEntity(txn, "counter", "b");
    CHECK(append(txn, a, 1, 1, 0) == 1);  // no outputs: before the range
    CHECK(append(txn, b, 1, 2, 2) == 2);
    CHECK(store.isUnpublished(txn, 2));   // the write's own range counts before it commits
    CHECK(append(txn, a, 2, 3, 0) == 3);  // inside the range, harmlessly
    CHECK(append(txn, b, 2, 4, 1) == 4);
  });
  CHECK(owed() == std::vector<std::uint64_t>{2, 3, 4});
  CHECK(store.stats().unpublished == 3);
  store.write([&](store::Txn& txn) {
    CHECK(append(txn, 1, 3, 5, 1) == 5);
    CHECK(append(txn, 1, 4, 6, 1) == 6);
  });
  CHECK(owed() == std::vector<std::uint64_t>{2, 3, 4, 5, 6});
  // The transport confirmed everything but seq 3's and 5's outputs.
  store.write([&](store::Txn& txn) {
    store.markPublished(txn, 2, 2);
    store.markPublished(txn, 4, 4);
    store.markPublished(txn, 6, 6);
  });
  CHECK(owed() == std::vector<std::uint64_t>{3, 5});
  store.read([&](store::Txn& txn) {
    CHECK_FALSE(store.isUnpublished(txn, 1));
    CHECK(store.isUnpublished(txn, 3));
    CHECK_FALSE(store.isUnpublished(txn, 4));
    CHECK(store.isUnpublished(txn, MessageId::forEdge("t", "5")));
    CHECK_FALSE(store.isUnpublished(txn, MessageId::forEdge("t", "unknown")));
  });
  store.write([&](store::Txn& txn) {
    store.markPublished(txn, 1, 100);
    store.markUnpublished(txn, MessageId::forEdge("t", "4"));  // as a lost confirmation would
  });
  CHECK(owed() == std::vector<std::uint64_t>{4});
  store.write([&](store::Txn& txn) { store.markPublished(txn, MessageId::forEdge("t", "4")); });
  CHECK(owed().empty());
}

}  // namespace idem::test
