// idem-bench: runs the benchmarks of bench/ and prints one table, idem beside its baseline.
//   idem-bench [--messages N] [--entities N] [--batch N] [--no-durable] [--runs N] [--smoke]
//              [--retention-small N] [--retention-large N] [--json FILE]
//              [e2e latency outbox duplicates recovery retention nats ...]
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <set>

#include "bench/benchmarks.h"
#include "bench/report.h"

int main(int argc, char** argv) {
  using namespace idem::bench;
  Settings s;
  bool noDurable = false;
  std::uint64_t history = 1'000'000;
  std::uint64_t retentionSmall = 1'000'000;
  std::uint64_t retentionLarge = 10'000'000;
  std::vector<std::string> only;
  std::string jsonFile;
  CLI::App app("idem benchmarks: idem and its baseline side by side, medians of --runs runs");
  app.add_option("--messages", s.messages, "timed messages per run")->capture_default_str();
  app.add_option("--entities", s.entities, "entities the messages spread over")
      ->capture_default_str();
  app.add_option("--batch", s.batch, "inputs per transaction (idem and baselines)")
      ->capture_default_str();
  app.add_flag("--no-durable", noDurable, "commits are not fsynced (idem and baselines)");
  app.add_option("--runs", s.runs, "runs per row; the table shows medians")->capture_default_str();
  app.add_option("--history", history, "history entries of the large recovery store")
      ->capture_default_str();
  app.add_option("--retention-small", retentionSmall,
                 "retention row: messages before the first size measurement")
      ->capture_default_str();
  app.add_option("--retention-large", retentionLarge,
                 "retention row: messages before the second size measurement")
      ->capture_default_str();
  app.add_option("--json", jsonFile,
                 "also write every row (key, idem, baseline, unit, ratio, target, met) and the "
                 "fsync rate of this run to FILE as JSON");
  app.add_flag("--smoke", s.smoke, "tiny counts, one run, no targets: checks every benchmark runs");
  app.add_option("benchmarks", only,
                 "e2e latency outbox duplicates recovery retention nats (default: all); "
                 "profile-store, "
                 "profile-bus: one idem run each, for profilers");
  CLI11_PARSE(app, argc, argv);
  s.durable = !noDurable;
  if (s.smoke) {
    s.messages = 300;
    s.entities = 50;
    s.batch = 32;
    s.runs = 1;
    history = 2'000;
    retentionSmall = 2'000;
    retentionLarge = 20'000;
  }
  const std::set<std::string> chosen(only.begin(), only.end());
  auto wanted = [&](const char* name) { return chosen.empty() || chosen.contains(name); };

  RunInfo info{.messages = s.messages,
               .entities = s.entities,
               .batch = s.batch,
               .durable = s.durable,
               .runs = s.runs,
               .smoke = s.smoke};
  std::vector<Row> rows;
  try {
    // Opened first, so that a path that cannot be written fails before the benchmarks run.
    std::ofstream json;
    if (!jsonFile.empty()) {
      json.open(jsonFile);
      if (!json) throw std::runtime_error("cannot write " + jsonFile);
    }
    // The disk's synced-write rate at the start and at the end of this run (others may share it).
    const std::chrono::milliseconds fsyncSample{s.smoke ? 100 : 1000};
    info.fsyncPerSecondAtStart = fsyncRate(ScratchDir("fsync").path(), fsyncSample);
    // Single idem runs without baselines, for profilers (not part of the default set).
    if (chosen.contains("profile-store")) {
      const Figures f = runIdemOverMemory(s);
      rows.push_back({.key = "profile-store",
                      .name = "profile: idem over MemoryTransport",
                      .idem = f.perSecond,
                      .unit = "msg/s",
                      .idemText = thousands(f.perSecond) + " msg/s",
                      .baselineText = "-",
                      .idemCost = f.cost});
    }
    if (chosen.contains("profile-bus")) {
      double rate = 0;
      runEndToEnd(s, rate, /*busOnly=*/true);
      rows.push_back({.key = "profile-bus",
                      .name = "profile: idem over the embedded bus",
                      .idem = rate,
                      .unit = "msg/s",
                      .idemText = thousands(rate) + " msg/s",
                      .baselineText = "-"});
    }
    double busRate = 0;
    if (wanted("e2e") || wanted("latency")) {
      auto e2e = runEndToEnd(s, busRate);
      if (wanted("e2e")) rows.insert(rows.end(), e2e.begin(), e2e.end());
    }
    if (wanted("latency")) {
      auto r = runLatencyUnderLoad(s, busRate);
      rows.insert(rows.end(), r.begin(), r.end());
    }
    if (wanted("outbox")) {
      auto r = runOutbox(s);
      rows.insert(rows.end(), r.begin(), r.end());
    }
    if (wanted("duplicates")) {
      auto r = runDuplicates(s);
      rows.insert(rows.end(), r.begin(), r.end());
    }
    if (wanted("recovery")) {
      auto r = runRecovery(s, history);
      rows.insert(rows.end(), r.begin(), r.end());
    }
    if (wanted("retention")) {
      if (retentionSmall == 0 || retentionLarge < retentionSmall) {
        throw std::runtime_error("--retention-large must be >= --retention-small > 0");
      }
      auto r = runRetention(s, retentionSmall, retentionLarge);
      rows.insert(rows.end(), r.begin(), r.end());
    }
    if (wanted("nats")) {
      auto r = runNats(s);
      rows.insert(rows.end(), r.begin(), r.end());
    }
    info.fsyncPerSecondAtEnd = fsyncRate(ScratchDir("fsync").path(), fsyncSample);
    info.fsyncPerSecond = (info.fsyncPerSecondAtStart + info.fsyncPerSecondAtEnd) / 2;
    printTable(info, rows);
    if (json.is_open()) {
      writeJson(json, info, rows);
      if (!json.flush()) throw std::runtime_error("cannot write " + jsonFile);
    }
  } catch (const std::exception& e) {
    std::cerr << "idem-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
