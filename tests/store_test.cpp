// Tests of store/: the version store's contract and its refusal of damaged or foreign files.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstddef>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "idem/error.h"
#include "store/lmdb_env.h"
#include "store/version_store.h"
#include "tests/temp_dir.h"

namespace idem::store {
namespace {

using test::TempDir;

StoreOptions smallOptions() {
  StoreOptions options;
  options.initialMapBytes = std::size_t{64} << 10;
  options.durable = false;
  return options;
}

MessageId idOf(std::uint64_t n) {
  MessageId id;
  for (int i = 0; i < 8; ++i) id.bytes[15 - i] = static_cast<std::uint8_t>(n >> (8 * i));
  id.bytes[0] = 0x42;
  return id;
}

std::vector<std::byte> bytesOf(std::uint64_t seed, std::size_t size) {
  std::vector<std::byte> out(size);
  std::mt19937_64 rng(seed);
  for (auto& b : out) b = static_cast<std::byte>(rng());
  return out;
}

// Holds the bytes a HistoryEntry points to.
struct Record {
  std::string handlerId;
  std::vector<std::byte> input;
  HistoryEntry entry;
};

Record recordOf(std::uint64_t n, std::size_t inputBytes = 40) {
  Record r{"handler-" + std::to_string(n % 7), bytesOf(n, inputBytes), {}};
  r.entry.handlerId = r.handlerId;
  r.entry.handlerVersion = static_cast<std::uint32_t>(n % 3 + 1);
  r.entry.recordedAtNs = static_cast<std::int64_t>(n) * 1000;
  r.entry.outputCount = static_cast<std::uint32_t>(n % 5);
  for (std::size_t i = 0; i < 32; ++i) r.entry.outputDigest[i] = static_cast<std::uint8_t>(n + i);
  r.entry.stateChanged = n % 2 == 0;
  r.entry.input = r.input;
  return r;
}

void checkRecord(const std::optional<HistoryEntry>& got, std::uint64_t n, std::size_t inputBytes) {
  const Record want = recordOf(n, inputBytes);
  REQUIRE(got.has_value());
  CHECK(got->handlerId == want.handlerId);
  CHECK(got->handlerVersion == want.entry.handlerVersion);
  CHECK(got->recordedAtNs == want.entry.recordedAtNs);
  CHECK(got->outputCount == want.entry.outputCount);
  CHECK(got->outputDigest == want.entry.outputDigest);
  CHECK(got->stateChanged == want.entry.stateChanged);
  CHECK(std::ranges::equal(got->input, want.input));
}

// A state snapshot: whole words, as canonical bytes are.
std::vector<std::byte> stateOf(std::uint64_t n) { return bytesOf(n * 31 + 7, 8 * (n % 4 + 1)); }

template <typename F>
std::string errorOf(F&& f, ErrorKind* kind = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (kind != nullptr) *kind = e.kind();
    return e.what();
  }
  return "";
}

void writeFile(const std::filesystem::path& path, const std::vector<std::byte>& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(content.data()),
            static_cast<std::streamsize>(content.size()));
}

// Appends versions 1..count to a new entity `key`, `perTxn` per write transaction.
std::uint64_t fill(VersionStore& store, const std::string& key, std::uint64_t count,
                   std::size_t inputBytes, std::uint64_t perTxn = 50) {
  std::uint64_t entity = 0;
  store.write([&](Txn& txn) { entity = store.createEntity(txn, "account", key); });
  for (std::uint64_t first = 1; first <= count; first += perTxn) {
    store.write([&](Txn& txn) {
      for (std::uint64_t v = first; v < first + perTxn && v <= count; ++v) {
        const Record r = recordOf(entity * 1000000 + v, inputBytes);
        const std::vector<std::byte> state = stateOf(v);
        store.append(txn, entity, v, idOf(entity * 1000000 + v), r.entry, state, v % 10 == 0);
      }
    });
  }
  return entity;
}

void verifyFilled(VersionStore& store, std::uint64_t entity, std::uint64_t count,
                  std::size_t inputBytes) {
  store.read([&](Txn& txn) {
    REQUIRE(store.headVersion(txn, entity) == count);
    for (std::uint64_t v = 1; v <= count; ++v) {
      checkRecord(store.findHistory(txn, entity, v), entity * 1000000 + v, inputBytes);
      const std::optional<Applied> applied = store.findApplied(txn, idOf(entity * 1000000 + v));
      REQUIRE(applied.has_value());
      CHECK(applied->entity == entity);
      CHECK(applied->version == v);
    }
  });
}

TEST_CASE("An appended version reads back with its history, snapshot and applied entry",
          "[store]") {
  TempDir dir;
  VersionStore store(dir.path(), "bank", smallOptions());
  const Record r = recordOf(7);
  const std::vector<std::byte> state = stateOf(1);
  std::uint64_t entity = 0;
  store.write([&](Txn& txn) {
    entity = store.createEntity(txn, "account", "alice");
    store.append(txn, entity, 1, idOf(7), r.entry, state);
  });
  store.read([&](Txn& txn) {
    checkRecord(store.findHistory(txn, entity, 1), 7, 40);
    CHECK_FALSE(store.findHistory(txn, entity, 2).has_value());
    const std::optional<Snapshot> snapshot = store.findSnapshotAtOrBefore(txn, entity, 1);
    REQUIRE(snapshot.has_value());
    CHECK(snapshot->version == 1);
    CHECK(std::ranges::equal(snapshot->state, state));
    CHECK(reinterpret_cast<std::uintptr_t>(snapshot->state.data()) % 8 == 0);
    const std::optional<Applied> applied = store.findApplied(txn, idOf(7));
    REQUIRE(applied.has_value());
    CHECK(applied->entity == entity);
    CHECK(applied->version == 1);
    CHECK_FALSE(store.findApplied(txn, idOf(8)).has_value());
  });
  const VersionStore::Stats stats = store.stats();
  CHECK(stats.entities == 1);
  CHECK(stats.historyEntries == 1);
  CHECK(stats.heads == 1);
  CHECK(stats.usedBytes <= stats.mapBytes);
}

TEST_CASE("The head version is the highest version of that entity only", "[store]") {
  TempDir dir;
  VersionStore store(dir.path(), "bank", smallOptions());
  std::uint64_t a = 0, b = 0, c = 0;
  store.write([&](Txn& txn) {
    a = store.createEntity(txn, "account", "a");
    b = store.createEntity(txn, "account", "b");
    c = store.createEntity(txn, "account", "c");
    CHECK(store.headVersion(txn, a) == 0);
    for (std::uint64_t v = 1; v <= 3; ++v) {
      store.append(txn, b, v, idOf(100 + v), recordOf(v).entry, stateOf(v), false);
    }
    store.append(txn, a, 1, idOf(200), recordOf(1).entry, stateOf(1), false);
  });
  store.read([&](Txn& txn) {
    CHECK(store.headVersion(txn, a) == 1);
    CHECK(store.headVersion(txn, b) == 3);
    CHECK(store.headVersion(txn, c) == 0);
    CHECK(store.headVersion(txn, 99) == 0);
  });
}

TEST_CASE("findSnapshotAtOrBefore picks the nearest snapshot at or below the version", "[store]") {
  TempDir dir;
  VersionStore store(dir.path(), "bank", smallOptions());
  std::uint64_t a = 0, b = 0;
  store.write([&](Txn& txn) {
    a = store.createEntity(txn, "account", "a");
    b = store.createEntity(txn, "account", "b");
    for (std::uint64_t v = 1; v <= 9; ++v) {
      const std::vector<std::byte> state = stateOf(v);
      const bool snap = v == 3 || v == 6;
      store.append(txn, b, v, idOf(v), recordOf(v).entry, state, snap);
    }
  });
  store.read([&](Txn& txn) {
    CHECK_FALSE(store.findSnapshotAtOrBefore(txn, b, 2).has_value());
    CHECK(store.findSnapshotAtOrBefore(txn, b, 3)->version == 3);
    CHECK(store.findSnapshotAtOrBefore(txn, b, 5)->version == 3);
    CHECK(store.findSnapshotAtOrBefore(txn, b, 6)->version == 6);
    CHECK(store.findSnapshotAtOrBefore(txn, b, 8)->version == 6);
    CHECK(std::ranges::equal(store.findSnapshotAtOrBefore(txn, b, 8)->state, stateOf(6)));
    // The head keeps its state whatever the policy: at or above it, that is the one.
    CHECK(store.findSnapshotAtOrBefore(txn, b, 9)->version == 9);
    CHECK(store.findSnapshotAtOrBefore(txn, b, 1000)->version == 9);
    CHECK(std::ranges::equal(store.findSnapshotAtOrBefore(txn, b, 1000)->state, stateOf(9)));
    CHECK_FALSE(store.findSnapshotAtOrBefore(txn, a, 1000).has_value());
    CHECK_FALSE(store.findSnapshotAtOrBefore(txn, b + 1, 1000).has_value());
  });
}

TEST_CASE("Entity numbers and names persist across reopening the store", "[store]") {
  TempDir dir;
  std::uint64_t alice = 0, bob = 0;
  {
    VersionStore store(dir.path(), "bank", smallOptions());
    store.write([&](Txn& txn) {
      alice = store.createEntity(txn, "account", "alice");
      bob = store.createEntity(txn, "customer", std::string("b\0b", 3));
    });
    CHECK(alice == 1);
    CHECK(bob == 2);
  }
  VersionStore store(dir.path(), "bank", smallOptions());
  store.write([&](Txn& txn) {
    CHECK(store.findEntity(txn, "account", "alice") == alice);
    CHECK(store.findEntity(txn, "customer", std::string("b\0b", 3)) == bob);
    CHECK_FALSE(store.findEntity(txn, "account", "bob").has_value());
    CHECK(store.findEntityName(txn, bob)->key == std::string("b\0b", 3));
    CHECK(store.findEntityName(txn, bob)->entityType == "customer");
    CHECK(store.createEntity(txn, "account", "carol") == 3);
  });
  std::vector<std::uint64_t> seen;
  store.read([&](Txn& txn) {
    store.forEachEntity(txn, 1, [&](std::uint64_t entity, const EntityName&) {
      seen.push_back(entity);
      return true;
    });
  });
  CHECK(seen == std::vector<std::uint64_t>{2, 3});
}

TEST_CASE("An entity key longer than the limit is refused", "[store]") {
  TempDir dir;
  VersionStore store(dir.path(), "bank", smallOptions());
  ErrorKind kind{};
  const std::string message = errorOf(
      [&] { store.write([&](Txn& txn) { store.createEntity(txn, "t", std::string(399, 'k')); }); },
      &kind);
  CHECK(kind == ErrorKind::kPermanent);
  CHECK(message.find("limit") != std::string::npos);
  store.write([&](Txn& txn) { CHECK(store.createEntity(txn, "t", std::string(398, 'k')) == 1); });
}

TEST_CASE("Appending a version that is not head + 1 throws a bug error", "[store]") {
  TempDir dir;
  VersionStore store(dir.path(), "bank", smallOptions());
  const std::uint64_t entity = fill(store, "a", 2, 16);
  for (const std::uint64_t wrong : {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{4}}) {
    ErrorKind kind{};
    errorOf(
        [&] {
          store.write([&](Txn& txn) {
            store.append(txn, entity, wrong, idOf(999), recordOf(1).entry, stateOf(1), false);
          });
        },
        &kind);
    CHECK(kind == ErrorKind::kBug);
  }
  store.read([&](Txn& txn) {
    CHECK(store.headVersion(txn, entity) == 2);
    CHECK_FALSE(store.findApplied(txn, idOf(999)).has_value());
  });
}

TEST_CASE("Appending an input that is already applied throws a bug error", "[store]") {
  TempDir dir;
  VersionStore store(dir.path(), "bank", smallOptions());
  const std::uint64_t entity = fill(store, "a", 1, 16);
  ErrorKind kind{};
  const std::string message = errorOf(
      [&] {
        store.write([&](Txn& txn) {
          store.append(txn, entity, 2, idOf(entity * 1000000 + 1), recordOf(1).entry, stateOf(1),
                       false);
        });
      },
      &kind);
  CHECK(kind == ErrorKind::kBug);
  CHECK(message.find("already applied") != std::string::npos);
  store.read([&](Txn& txn) { CHECK(store.headVersion(txn, entity) == 1); });
}

TEST_CASE("A write whose body throws leaves nothing behind", "[store]") {
  TempDir dir;
  VersionStore store(dir.path(), "bank", smallOptions());
  CHECK_THROWS_AS(store.write([&](Txn& txn) {
    const std::uint64_t entity = store.createEntity(txn, "account", "ghost");
    store.append(txn, entity, 1, idOf(1), recordOf(1).entry, stateOf(1), false);
    throw std::runtime_error("handler failed");
  }),
                  std::runtime_error);
  store.read([&](Txn& txn) {
    CHECK_FALSE(store.findEntity(txn, "account", "ghost").has_value());
    CHECK_FALSE(store.findApplied(txn, idOf(1)).has_value());
    CHECK(store.headVersion(txn, 1) == 0);
  });
  store.write([&](Txn& txn) { CHECK(store.createEntity(txn, "account", "real") == 1); });
}

TEST_CASE("A tiny map grows under many appends without losing a write", "[store]") {
  TempDir dir;
  VersionStore store(dir.path(), "bank", smallOptions());
  const std::size_t before = store.stats().mapBytes;
  const std::uint64_t a = fill(store, "a", 1500, 304);
  const std::uint64_t b = fill(store, "b", 300, 3000, 300);  // values on overflow pages
  CHECK(store.stats().mapBytes > before);
  verifyFilled(store, a, 1500, 304);
  verifyFilled(store, b, 300, 3000);
  CHECK(store.stats().historyEntries == 1800);
  CHECK(store.stats().heads == 2);
}

TEST_CASE("Readers on other threads keep reading while a writer grows the map", "[store]") {
  TempDir dir;
  VersionStore store(dir.path(), "bank", smallOptions());
  const std::uint64_t a = fill(store, "a", 20, 104);
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> reads{0};
  std::atomic<std::uint64_t> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!done.load()) {
        store.read([&](Txn& txn) {  // no Catch2 assertions here: they are not thread-safe
          const std::optional<HistoryEntry> got = store.findHistory(txn, a, 20);
          const Record want = recordOf(a * 1000000 + 20, 104);
          if (!got || !std::ranges::equal(got->input, want.input)) ++failures;
        });
        ++reads;
      }
    });
  }
  const std::size_t before = store.stats().mapBytes;
  const std::uint64_t b = fill(store, "b", 300, 3000, 20);
  done = true;
  for (std::thread& t : readers) t.join();
  CHECK(store.stats().mapBytes > before);
  CHECK(reads.load() > 0);
  CHECK(failures.load() == 0);
  verifyFilled(store, b, 300, 3000);
}

TEST_CASE("A map full at maxMapBytes is an overloaded error", "[store]") {
  TempDir dir;
  StoreOptions options = smallOptions();
  options.maxMapBytes = std::size_t{256} << 10;
  VersionStore store(dir.path(), "bank", options);
  ErrorKind kind{};
  errorOf([&] { fill(store, "a", 1000, 4000); }, &kind);
  CHECK(kind == ErrorKind::kOverloaded);
}

TEST_CASE("A body that swallows the map-full signal still gets its map grown", "[store]") {
  TempDir dir;
  LmdbEnv env(dir.path(), EnvOptions{std::size_t{64} << 10, std::size_t{1} << 30, 126, 2, false});
  int runs = 0;
  env.write([&](Txn& txn) {
    ++runs;
    MDB_dbi main = 0;
    txn.check(mdb_dbi_open(txn.raw(), nullptr, 0, &main), "mdb_dbi_open");
    try {
      for (int i = 0; i < 200; ++i) {
        const std::string key = "key" + std::to_string(1000 + i);
        const std::string value(1000, 'v');
        (void)txn.put(main, asBytes(key), asBytes(value));
      }
    } catch (...) {  // a careless body: LMDB has poisoned the transaction anyway
    }
  });
  CHECK(runs > 1);
  env.read([&](Txn& txn) {
    MDB_dbi main = 0;
    txn.check(mdb_dbi_open(txn.raw(), nullptr, 0, &main), "mdb_dbi_open");
    CHECK(txn.entries(main) == 200);
  });
}

TEST_CASE("Opening a store with another endpoint's name is refused", "[store]") {
  TempDir dir;
  { VersionStore store(dir.path(), "bank", smallOptions()); }
  ErrorKind kind{};
  const std::string message =
      errorOf([&] { VersionStore other(dir.path(), "shop", smallOptions()); }, &kind);
  CHECK(kind == ErrorKind::kPermanent);
  CHECK(message.find((dir / "data.mdb").string()) != std::string::npos);
  CHECK(message.find("bank") != std::string::npos);
  VersionStore again(dir.path(), "bank", smallOptions());
}

TEST_CASE("An LMDB file that is not a version store is refused", "[store]") {
  TempDir dir;
  {
    LmdbEnv env(dir.path(), EnvOptions{});
    env.write([&](Txn& txn) {
      MDB_dbi main = 0;
      txn.check(mdb_dbi_open(txn.raw(), nullptr, 0, &main), "mdb_dbi_open");
      (void)txn.put(main, asBytes("something"), asBytes("else"));
    });
  }
  const std::string message =
      errorOf([&] { VersionStore store(dir.path(), "bank", smallOptions()); });
  CHECK(message.find((dir / "data.mdb").string()) != std::string::npos);
  CHECK(message.find("not an idem version store") != std::string::npos);
}

TEST_CASE("A truncated data file is refused with an error naming it", "[store]") {
  TempDir dir;
  StoreOptions options = smallOptions();
  options.durable = true;
  {
    VersionStore store(dir.path(), "bank", options);
    fill(store, "a", 200, 504);
  }
  const std::filesystem::path data = dir / "data.mdb";
  const auto fullSize = std::filesystem::file_size(data);
  REQUIRE(fullSize > 8 * 4096);
  for (const std::uintmax_t size :
       {fullSize - 4096, std::uintmax_t{3 * 4096}, std::uintmax_t{100}}) {
    std::filesystem::resize_file(data, size);
    ErrorKind kind{};
    const std::string message =
        errorOf([&] { VersionStore store(dir.path(), "bank", options); }, &kind);
    CHECK(kind == ErrorKind::kPermanent);
    CHECK(message.find(data.string()) != std::string::npos);
    CHECK(message.find("truncated") != std::string::npos);
  }
}

TEST_CASE("A file of random bytes is refused with an error naming it", "[store]") {
  TempDir dir;
  writeFile(dir / "data.mdb", bytesOf(1, 64 * 1024));
  ErrorKind kind{};
  const std::string message =
      errorOf([&] { VersionStore store(dir.path(), "bank", smallOptions()); }, &kind);
  CHECK(kind == ErrorKind::kPermanent);
  CHECK(message.find((dir / "data.mdb").string()) != std::string::npos);
}

TEST_CASE("A missing or empty data file is refused when the marker says a store existed",
          "[store]") {
  TempDir dir;
  { VersionStore store(dir.path(), "bank", smallOptions()); }
  REQUIRE(std::filesystem::exists(dir / "idem-store.json"));
  std::filesystem::remove(dir / "data.mdb");
  std::string message = errorOf([&] { VersionStore store(dir.path(), "bank", smallOptions()); });
  CHECK(message.find((dir / "data.mdb").string()) != std::string::npos);
  CHECK(message.find("missing") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "data.mdb"));
  writeFile(dir / "data.mdb", {});
  message = errorOf([&] { VersionStore store(dir.path(), "bank", smallOptions()); });
  CHECK(message.find("empty") != std::string::npos);
}

TEST_CASE("A map grown by another process is adopted by this one", "[store]") {
  TempDir dir;
  VersionStore store(dir.path(), "bank", smallOptions());
  const std::uint64_t a = fill(store, "a", 10, 104);
  const std::size_t mapBefore = store.stats().mapBytes;

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {  // never returns into Catch2; never touches the parent's environment
    int status = 1;
    try {
      VersionStore other(dir.path(), "bank", smallOptions());
      fill(other, "b", 400, 3000, 100);
      status = other.stats().mapBytes > mapBefore ? 0 : 2;
    } catch (...) {
      status = 3;
    }
    ::_exit(status);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  std::uint64_t b = 0;
  store.read([&](Txn& txn) { b = *store.findEntity(txn, "account", "b"); });
  verifyFilled(store, b, 400, 3000);
  verifyFilled(store, a, 10, 104);
  store.write([&](Txn& txn) {
    store.append(txn, a, 11, idOf(5555), recordOf(11).entry, stateOf(11), false);
  });
  CHECK(store.stats().mapBytes > mapBefore);
}

}  // namespace

// LMDB may count pages at the end of the file that it allocated and freed in one transaction and
// so never wrote (seen under kill -9 chaos): the file is then shorter than its newest meta page's
// last page, legitimately. Such a store must open; only missing pages in use mean truncation.
TEST_CASE("A file whose newest meta counts unwritten free pages past its end opens",
          "[store][regression]") {
  TempDir dir;
  StoreOptions options = smallOptions();
  {
    VersionStore store(dir.path(), "bank", options);
    fill(store, "a", 50, 104);
  }
  const std::filesystem::path data = dir / "data.mdb";
  {
    // LMDB 0.9 on 64-bit: meta pages 0 and 1; after the 16-byte page header, mm_txnid is at
    // offset 144 and mm_last_pg at offset 136 of the page. Count 3 more pages in the newest.
    std::fstream file(data, std::ios::in | std::ios::out | std::ios::binary);
    auto read64 = [&](std::streamoff at) {
      std::uint64_t v = 0;
      file.seekg(at);
      file.read(reinterpret_cast<char*>(&v), sizeof v);
      return v;
    };
    const std::streamoff newest = read64(144) > read64(4096 + 144) ? 0 : 4096;
    const std::uint64_t lastPage = read64(newest + 136) + 3;
    file.seekp(newest + 136);
    file.write(reinterpret_cast<const char*>(&lastPage), sizeof lastPage);
    REQUIRE(file.good());
    REQUIRE((lastPage + 1) * 4096 > std::filesystem::file_size(data));
  }
  VersionStore store(dir.path(), "bank", options);
  store.read([&](Txn& txn) { CHECK(store.headVersion(txn, 1) == 50); });
}

}  // namespace idem::store
