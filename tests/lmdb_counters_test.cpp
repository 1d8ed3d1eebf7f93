// Tests of LmdbEnv's counters (store/lmdb_env.h, LmdbCounters): commits, syncs, pages written.
#include <catch2/catch.hpp>
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/lmdb_env.h"
#include "tests/temp_dir.h"

namespace idem::store {
namespace {

using test::TempDir;

EnvOptions optionsOf(bool durable) {
  EnvOptions options;
  options.initialMapBytes = std::size_t{1} << 20;
  options.durable = durable;
  return options;
}

// An environment with one named database, "data".
struct Fixture {
  explicit Fixture(bool durable) : env(dir.path(), optionsOf(durable)) {
    env.write([&](Txn& txn) { data = *env.openDb(txn, "data", true); });
  }
  // One commit storing `value` under `key` (no Catch2 assertion: called on other threads too).
  void put(const std::string& key, const std::vector<std::byte>& value) {
    env.write([&](Txn& txn) {
      if (!txn.put(data, asBytes(key), value)) throw std::logic_error("put refused");
    });
  }

  TempDir dir{"idem-counters"};
  LmdbEnv env;
  MDB_dbi data = 0;
};

bool threadIoReadable() { return std::filesystem::exists("/proc/thread-self/io"); }

TEST_CASE("N durable commits count N commits and two syncs each", "[store][counters]") {
  Fixture f(/*durable=*/true);
  const LmdbCounters before = f.env.counters();
  CHECK(before.commits == 1);  // the fixture's openDb
  for (int i = 0; i < 5; ++i) f.put("key" + std::to_string(i), std::vector<std::byte>(16));
  const LmdbCounters after = f.env.counters();
  CHECK(after.commits - before.commits == 5);
  CHECK(after.syncs - before.syncs == 10);  // data fdatasync + O_DSYNC meta write, per commit
  if (threadIoReadable()) CHECK(after.pagesWritten - before.pagesWritten >= 5);
}

TEST_CASE("A non-durable environment counts its commits but no syncs", "[store][counters]") {
  Fixture f(/*durable=*/false);
  for (int i = 0; i < 7; ++i) f.put("key" + std::to_string(i), std::vector<std::byte>(16));
  const LmdbCounters after = f.env.counters();
  CHECK(after.commits == 8);
  CHECK(after.syncs == 0);
  if (threadIoReadable()) CHECK(after.pagesWritten >= 8);
}

TEST_CASE("A commit under MDB_NOMETASYNC counts one sync", "[store][counters]") {
  Fixture f(/*durable=*/true);
  REQUIRE(mdb_env_set_flags(f.env.raw(), MDB_NOMETASYNC, 1) == MDB_SUCCESS);
  const LmdbCounters before = f.env.counters();
  for (int i = 0; i < 3; ++i) f.put("key" + std::to_string(i), std::vector<std::byte>(16));
  const LmdbCounters after = f.env.counters();
  CHECK(after.commits - before.commits == 3);
  CHECK(after.syncs - before.syncs == 3);
}

TEST_CASE("syncsPerCommit follows the environment's sync flags", "[store][counters]") {
  CHECK(syncsPerCommit(0) == 2);
  CHECK(syncsPerCommit(MDB_NOTLS) == 2);
  CHECK(syncsPerCommit(MDB_NOMETASYNC) == 1);
  CHECK(syncsPerCommit(MDB_NOSYNC) == 0);
  CHECK(syncsPerCommit(MDB_NOSYNC | MDB_NOMETASYNC) == 0);
  CHECK(syncsPerCommit(MDB_WRITEMAP) == 2);
  CHECK(syncsPerCommit(MDB_WRITEMAP | MDB_MAPASYNC) == 0);
}

TEST_CASE("A write transaction that changes nothing and read transactions are not counted",
          "[store][counters]") {
  Fixture f(/*durable=*/true);
  f.put("key", std::vector<std::byte>(16));
  const LmdbCounters before = f.env.counters();
  f.env.write([](Txn&) {});
  f.env.write([&](Txn& txn) { CHECK(txn.get(f.data, asBytes(std::string("key")))); });
  f.env.read([&](Txn& txn) { CHECK(txn.get(f.data, asBytes(std::string("key")))); });
  f.env.readKeepingDbs([&](Txn& txn) { CHECK(f.env.openDb(txn, "data", false)); });
  const LmdbCounters after = f.env.counters();
  CHECK(after.commits == before.commits);
  CHECK(after.syncs == before.syncs);
  CHECK(after.pagesWritten == before.pagesWritten);
}

TEST_CASE("Pages written count the overflow pages of a large value", "[store][counters]") {
  if (!threadIoReadable()) {
    WARN("/proc/thread-self/io is not readable here: pages written stay 0");
    return;
  }
  Fixture f(/*durable=*/false);
  const std::size_t page = f.env.pageSize();
  f.put("small", std::vector<std::byte>(16));
  const LmdbCounters small = f.env.counters();
  f.put("large", std::vector<std::byte>(10 * page));
  const std::uint64_t written = f.env.counters().pagesWritten - small.pagesWritten;
  // 11 overflow pages (10 pages plus the overflow header), the leaf, the main database's leaf
  // and the free list's: a few pages more than the value, never fewer.
  CHECK(written >= 11);
  CHECK(written <= 16);
}

TEST_CASE("Commits made on several threads are all counted", "[store][counters]") {
  Fixture f(/*durable=*/false);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&f, t] {
      for (int i = 0; i < 10; ++i) {
        f.put("t" + std::to_string(t) + "-" + std::to_string(i), std::vector<std::byte>(16));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(f.env.counters().commits == 41);
  if (threadIoReadable()) CHECK(f.env.counters().pagesWritten >= 41);
}

}  // namespace
}  // namespace idem::store
