// Tests of the benchmark's support code: the JSON document `idem-bench --json` writes
// (bench/report.h, from a fake row list) and the store meter (bench/store_meter.h) against
// LmdbEnv's own counters.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/report.h"
#include "bench/store_meter.h"
#include "store/lmdb_env.h"
#include "tests/temp_dir.h"

namespace idem::bench {
namespace {

RunInfo fakeInfo() {
  RunInfo info;
  info.messages = 30'000;
  info.entities = 10'000;
  info.batch = 256;
  info.durable = true;
  info.runs = 3;
  info.fsyncPerSecond = 450;
  info.fsyncPerSecondAtStart = 400;
  info.fsyncPerSecondAtEnd = 500;
  return info;
}

std::vector<Row> fakeRows() {
  const StoreCost idemCost{
      .messages = 30'000, .batches = 118, .commits = 118, .syncs = 236, .pagesWritten = 54'000};
  const StoreCost logCost{
      .messages = 30'000, .batches = 118, .commits = 118, .syncs = 236, .pagesWritten = 9'000};
  return {
      {.key = "store-only-vs-append-log",
       .name = "store only vs raw append log",
       .idem = 50'000,
       .baseline = 100'000,
       .unit = "msg/s",
       .idemText = "50,000 msg/s",
       .baselineText = "raw append log 100,000 msg/s",
       .target = ">= 0.6x and >= 100,000 msg/s",
       .met = false,
       .idemCost = idemCost,
       .baselineCost = logCost,
       .verdict = ""},
      {.key = "bytes-per-message-horizon0",
       .name = "bytes at horizons 0",
       .idem = 40,
       .baseline = 50,
       .unit = "B/msg",
       .idemText = "40 B",
       .baselineText = "50 B",
       .target = "<= 1x",
       .met = true,
       .idemCost = std::nullopt,
       .baselineCost = std::nullopt,
       .verdict = ""},
      {.key = "profile-store",
       .name = "profile",
       .idem = 60'000,
       .baseline = std::nullopt,
       .unit = "msg/s",
       .idemText = "60,000 msg/s",
       .baselineText = "-",
       .target = "",
       .met = std::nullopt,
       .idemCost = std::nullopt,
       .baselineCost = std::nullopt,
       .verdict = ""},
  };
}

nlohmann::json written(const std::vector<Row>& rows) {
  std::ostringstream out;
  writeJson(out, fakeInfo(), rows);
  return nlohmann::json::parse(out.str());
}

TEST_CASE("The bench JSON holds every row with the eight fields and the run's fsync rate",
          "[bench][report]") {
  const nlohmann::json doc = written(fakeRows());
  REQUIRE(doc.at("fsync_per_s").is_number());
  CHECK(doc.at("fsync_per_s").get<double>() == 450);
  CHECK(doc.at("fsync_per_s_start").get<double>() == 400);
  CHECK(doc.at("fsync_per_s_end").get<double>() == 500);
  CHECK(doc.at("smoke") == false);
  CHECK(doc.at("settings").at("messages") == 30'000);
  CHECK(doc.at("settings").at("durable") == true);
  const nlohmann::json& rows = doc.at("rows");
  REQUIRE(rows.is_array());
  REQUIRE(rows.size() == 3);
  for (const auto& row : rows) {
    for (const char* field : {"key", "row", "idem", "baseline", "unit", "ratio", "target", "met",
                              "verdict", "idem_cost", "baseline_cost"}) {
      INFO(field);
      CHECK(row.contains(field));
    }
    CHECK(row.size() == 11);
    CHECK(row.at("verdict").is_null());  // set only when a target cannot be judged
    CHECK(row.at("key").is_string());
    CHECK(row.at("row").is_string());
    CHECK(row.at("idem").is_number());
    CHECK(row.at("unit").is_string());
  }
}

TEST_CASE("A bench row's ratio is idem over baseline and its verdict a boolean",
          "[bench][report]") {
  const nlohmann::json rows = written(fakeRows()).at("rows");
  const nlohmann::json& log = rows.at(0);
  CHECK(log.at("key") == "store-only-vs-append-log");
  CHECK(log.at("idem").get<double>() == 50'000);
  CHECK(log.at("baseline").get<double>() == 100'000);
  CHECK(log.at("ratio").get<double>() == Approx(0.5));
  CHECK(log.at("target") == ">= 0.6x and >= 100,000 msg/s");
  CHECK(log.at("met") == false);
  CHECK(rows.at(1).at("met") == true);
  CHECK(rows.at(1).at("ratio").get<double>() == Approx(0.8));
}

TEST_CASE("A bench row without baseline or target has nulls, not zeros", "[bench][report]") {
  const nlohmann::json row = written(fakeRows()).at("rows").at(2);
  CHECK(row.at("baseline").is_null());
  CHECK(row.at("ratio").is_null());
  CHECK(row.at("target").is_null());
  CHECK(row.at("met").is_null());
  CHECK(row.at("idem_cost").is_null());
  CHECK(row.at("baseline_cost").is_null());
}

TEST_CASE("A store row's costs are written per batch and per message", "[bench][report]") {
  const nlohmann::json cost = written(fakeRows()).at("rows").at(0).at("idem_cost");
  CHECK(cost.at("commits") == 118);
  CHECK(cost.at("syncs") == 236);
  CHECK(cost.at("pages_written") == 54'000);
  CHECK(cost.at("commits_per_batch").get<double>() == Approx(1.0));
  CHECK(cost.at("syncs_per_message").get<double>() == Approx(236.0 / 30'000));
  CHECK(cost.at("pages_per_message").get<double>() == Approx(1.8));
}

TEST_CASE("Bench rows without a key or with a repeated key are refused", "[bench][report]") {
  std::vector<Row> rows = fakeRows();
  rows.push_back(rows.front());
  std::ostringstream out;
  CHECK_THROWS_AS(writeJson(out, fakeInfo(), rows), std::runtime_error);
  rows = fakeRows();
  rows.back().key.clear();
  CHECK_THROWS_AS(writeJson(out, fakeInfo(), rows), std::runtime_error);
}

// `commits` commits of one small value each on a fresh environment, measured both ways.
void compareMeterWithCounters(bool durable, int commits) {
  test::TempDir dir("idem-meter");
  store::EnvOptions options;
  options.durable = durable;
  store::LmdbEnv env(dir.path(), options);
  MDB_dbi data = 0;
  env.write([&](store::Txn& txn) { data = *env.openDb(txn, "data", true); });
  const store::LmdbCounters before = env.counters();
  const StoreMeter meter(dir.path(), idemEnvFlags(durable));
  for (int i = 0; i < commits; ++i) {
    const std::string key = "key" + std::to_string(i);
    env.write([&](store::Txn& txn) {
      REQUIRE(txn.put(data, store::asBytes(key), std::vector<std::byte>(100)));
    });
  }
  const StoreCost cost = meter.finish(static_cast<std::uint64_t>(commits), 1);
  const store::LmdbCounters after = env.counters();
  CHECK(cost.commits == after.commits - before.commits);
  CHECK(cost.syncs == after.syncs - before.syncs);
  if (std::filesystem::exists("/proc/thread-self/io")) {
    // The meter also sees the meta page writes (~120 B per commit): less than one page here.
    const std::uint64_t pages = after.pagesWritten - before.pagesWritten;
    CHECK(cost.pagesWritten >= pages);
    CHECK(cost.pagesWritten <= pages + 1);
  }
}

TEST_CASE("The store meter agrees with LmdbEnv's counters on commits, syncs and pages",
          "[bench][meter]") {
  SECTION("not durable") { compareMeterWithCounters(false, 20); }
  SECTION("durable") { compareMeterWithCounters(true, 5); }
}

}  // namespace
}  // namespace idem::bench
