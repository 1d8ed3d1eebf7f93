// Report: percentiles are nearest-rank over every ended item's latency.
#include "tools/demo/report.h"

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>

#include "idem/error.h"

namespace idem::tools::demo {

namespace {

double percentileMs(std::vector<std::int64_t> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return static_cast<double>(values[std::min(rank, values.size() - 1)]) / 1e6;
}

double perSecond(std::uint64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0;
}

}  // namespace

PipelineCounts sumStats(const std::filesystem::path& statsDirectory) {
  PipelineCounts c;
  if (!std::filesystem::exists(statsDirectory)) return c;
  for (const auto& file : std::filesystem::directory_iterator(statsDirectory)) {
    if (file.path().extension() != ".json") continue;
    nlohmann::json j;
    try {
      std::ifstream(file.path()) >> j;
    } catch (const nlohmann::json::exception&) {
      continue;  // written by rename, so never half; anything else is not ours
    }
    ++c.processFiles;
    c.batches += j.value("batches", std::uint64_t{0});
    c.processed += j.value("processed", std::uint64_t{0});
    c.duplicates += j.value("duplicates", std::uint64_t{0});
    c.alreadyPublished += j.value("alreadyPublished", std::uint64_t{0});
    c.published += j.value("published", std::uint64_t{0});
    c.retried += j.value("retried", std::uint64_t{0});
    c.deadLettered += j.value("deadLettered", std::uint64_t{0});
  }
  return c;
}

bool Report::passed() const {
  return std::all_of(invariants.begin(), invariants.end(),
                     [](const Invariant& i) { return i.holds; });
}

void Report::print(std::ostream& out) const {
  out << "\nidem demo " << options.app << ": " << total << " " << unit << ", seed " << options.seed
      << ", chaos " << (options.chaos ? "on" : "off")
      << (options.transport.empty() ? "" : ", transport " + options.transport) << ", dir "
      << options.dir.string() << (resumed ? " (resumed an earlier run)" : "") << "\n\n";
  out << "Invariants (read from the stores and queues after every process stopped)\n";
  for (const Invariant& i : invariants) {
    out << "  " << (i.holds ? "PASS" : "FAIL") << "  " << i.name << ": " << i.detail << "\n";
  }
  out << "\nOutcomes\n";
  for (const auto& [name, count] : outcomes)
    out << "  " << std::setw(8) << count << "  " << name << "\n";
  out << "\nPipeline counters (this run, summed over " << counts.processFiles
      << " endpoint process lifetimes; a process killed -9 loses its last <200 ms of counts)\n"
      << "  " << std::setw(8) << counts.processed << "  inputs processed (first copies)\n"
      << "  " << std::setw(8) << counts.duplicates
      << "  duplicates re-run against the version their first copy saw\n"
      << "  " << std::setw(8) << counts.alreadyPublished
      << "  duplicates acked at once (outputs already published)\n"
      << "  " << std::setw(8) << counts.published
      << "  messages published (re-emissions included)\n"
      << "  " << std::setw(8) << counts.retried << "  delayed retries\n"
      << "  " << std::setw(8) << counts.deadLettered << "  moved to an error queue\n"
      << "  " << std::setw(8) << counts.batches << "  batches (one durable transaction each)\n";
  out << "\nChaos\n"
      << "  " << std::setw(8) << kills << "  endpoint processes killed with SIGKILL and restarted\n"
      << "  " << std::setw(8) << injectedDuplicates << "  duplicate edge messages injected\n";
  out << std::fixed << std::setprecision(1) << "\nPerformance\n"
      << "  wall time " << wallSeconds << " s; work " << workSeconds << " s for " << endedThisRun
      << " " << unit << " ended in this run\n"
      << "  throughput " << perSecond(endedThisRun, workSeconds) << " " << unit << "/s, "
      << perSecond(counts.processed, workSeconds) << " inputs processed/s\n"
      << "  latency (edge message time -> end recorded) p50 " << percentileMs(latenciesNs, 0.5)
      << " ms, p99 " << percentileMs(latenciesNs, 0.99) << " ms over " << latenciesNs.size() << " "
      << unit << "\n";
  out << "\n"
      << (passed() ? "PASS: every invariant holds" : "FAIL: some invariant does not hold") << "\n";
}

void Report::writeJson(const std::filesystem::path& file) const {
  nlohmann::json invariantsJson = nlohmann::json::array();
  for (const Invariant& i : invariants) {
    invariantsJson.push_back({{"name", i.name}, {"holds", i.holds}, {"detail", i.detail}});
  }
  nlohmann::json outcomesJson = nlohmann::json::object();
  for (const auto& [name, count] : outcomes) outcomesJson[name] = count;
  const nlohmann::json json = {
      {"app", options.app},
      {"passed", passed()},
      {"resumed", resumed},
      {"parameters",
       {{"transfers", options.transfers},
        {"accounts", options.accounts},
        {"orders", options.orders},
        {"seed", options.seed},
        {"chaos", options.chaos},
        {"transport", options.transport.empty() ? "embedded" : options.transport},
        {"dir", options.dir.string()}}},
      {"unit", unit},
      {"total", total},
      {"endedThisRun", endedThisRun},
      {"invariants", invariantsJson},
      {"outcomes", outcomesJson},
      {"counts",
       {{"processFiles", counts.processFiles},
        {"batches", counts.batches},
        {"processed", counts.processed},
        {"duplicates", counts.duplicates},
        {"alreadyPublished", counts.alreadyPublished},
        {"published", counts.published},
        {"retried", counts.retried},
        {"deadLettered", counts.deadLettered}}},
      {"chaos", {{"kills", kills}, {"injectedDuplicates", injectedDuplicates}}},
      {"wallSeconds", wallSeconds},
      {"workSeconds", workSeconds},
      {"throughput",
       {{"itemsPerSecond", perSecond(endedThisRun, workSeconds)},
        {"inputsPerSecond", perSecond(counts.processed, workSeconds)}}},
      {"latencyMs",
       {{"p50", percentileMs(latenciesNs, 0.5)},
        {"p99", percentileMs(latenciesNs, 0.99)},
        {"count", latenciesNs.size()}}},
  };
  std::ofstream out(file);
  if (!out) fail(ErrorKind::kPermanent, "cannot write the report to " + file.string());
  out << json.dump(2) << "\n";
}

}  // namespace idem::tools::demo
