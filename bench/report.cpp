// Report: the table and the JSON document.
#include "bench/report.h"

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "bench/harness.h"

namespace idem::bench {

namespace {

double per(std::uint64_t count, std::uint64_t of) {
  return of == 0 ? 0 : static_cast<double>(count) / static_cast<double>(of);
}

std::uint64_t medianCount(const std::vector<StoreCost>& runs, std::uint64_t StoreCost::*field) {
  std::vector<std::uint64_t> values;
  for (const StoreCost& run : runs) values.push_back(run.*field);
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[(values.size() - 1) / 2];
}

nlohmann::json costJson(const std::optional<StoreCost>& cost) {
  if (!cost) return nullptr;
  return {{"messages", cost->messages},
          {"batches", cost->batches},
          {"commits", cost->commits},
          {"syncs", cost->syncs},
          {"pages_written", cost->pagesWritten},
          {"commits_per_batch", cost->commitsPerBatch()},
          {"syncs_per_message", cost->syncsPerMessage()},
          {"pages_per_message", cost->pagesPerMessage()}};
}

std::string withCost(const std::string& text, const std::optional<StoreCost>& cost) {
  return cost ? text + " [" + describe(*cost) + "]" : text;
}

}  // namespace

double StoreCost::commitsPerBatch() const { return per(commits, batches); }
double StoreCost::syncsPerMessage() const { return per(syncs, messages); }
double StoreCost::pagesPerMessage() const { return per(pagesWritten, messages); }

StoreCost medianOf(const std::vector<StoreCost>& runs) {
  StoreCost m;
  m.messages = medianCount(runs, &StoreCost::messages);
  m.batches = medianCount(runs, &StoreCost::batches);
  m.commits = medianCount(runs, &StoreCost::commits);
  m.syncs = medianCount(runs, &StoreCost::syncs);
  m.pagesWritten = medianCount(runs, &StoreCost::pagesWritten);
  return m;
}

std::string describe(const StoreCost& cost) {
  return fixed(cost.commitsPerBatch(), 2) + " commits/batch, " + fixed(cost.syncsPerMessage(), 4) +
         " syncs/msg, " + fixed(cost.pagesPerMessage(), 2) + " pages/msg";
}

std::optional<double> Row::ratio() const {
  if (!baseline || *baseline == 0) return std::nullopt;
  return idem / *baseline;
}

void printTable(const RunInfo& info, const std::vector<Row>& rows) {
  const std::vector<std::string> header = {"key",   "row",    "idem",   "baseline",
                                           "ratio", "target", "verdict"};
  std::vector<std::vector<std::string>> cells;
  for (const Row& r : rows) {
    const std::optional<double> ratio = r.ratio();
    const std::string verdict = info.smoke           ? "smoke"
                                : !r.verdict.empty() ? r.verdict
                                : !r.met             ? "info"
                                : *r.met             ? "met"
                                                     : "NOT met";
    cells.push_back({r.key, r.name, withCost(r.idemText, r.idemCost),
                     withCost(r.baselineText, r.baselineCost), ratio ? fixed(*ratio, 2) + "x" : "-",
                     r.target.empty() ? "-" : r.target, verdict});
  }
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& line : cells) width[c] = std::max(width[c], line[c].size());
  }
  auto printLine = [&](const std::vector<std::string>& line) {
    std::ostringstream out;
    out << "|";
    for (std::size_t c = 0; c < line.size(); ++c) {
      out << " " << line[c] << std::string(width[c] - line[c].size(), ' ') << " |";
    }
    std::cout << out.str() << "\n";
  };
  std::cout << "\nidem-bench: " << info.messages << " messages, " << info.entities
            << " entities, batch " << info.batch << (info.durable ? ", durable" : ", not durable")
            << ", median of " << info.runs << " run(s); fsync rate "
            << thousands(info.fsyncPerSecond) << "/s (start "
            << thousands(info.fsyncPerSecondAtStart) << ", end "
            << thousands(info.fsyncPerSecondAtEnd) << ")"
            << (info.smoke ? " [SMOKE: figures meaningless]" : "") << "\n\n";
  printLine(header);
  std::vector<std::string> rule;
  for (std::size_t w : width) rule.push_back(std::string(w, '-'));
  printLine(rule);
  for (const auto& line : cells) printLine(line);
  std::cout << std::flush;
}

void writeJson(std::ostream& out, const RunInfo& info, const std::vector<Row>& rows) {
  nlohmann::json list = nlohmann::json::array();
  std::set<std::string> keys;
  for (const Row& r : rows) {
    if (r.key.empty()) throw std::runtime_error("bench row without a key: " + r.name);
    if (!keys.insert(r.key).second) throw std::runtime_error("two bench rows keyed " + r.key);
    const std::optional<double> ratio = r.ratio();
    list.push_back({{"key", r.key},
                    {"row", r.name},
                    {"idem", r.idem},
                    {"baseline", r.baseline ? nlohmann::json(*r.baseline) : nullptr},
                    {"unit", r.unit},
                    {"ratio", ratio ? nlohmann::json(*ratio) : nullptr},
                    {"target", r.target.empty() ? nullptr : nlohmann::json(r.target)},
                    {"met", r.met ? nlohmann::json(*r.met) : nullptr},
                    {"verdict", r.verdict.empty() ? nullptr : nlohmann::json(r.verdict)},
                    {"idem_cost", costJson(r.idemCost)},
                    {"baseline_cost", costJson(r.baselineCost)}});
  }
  const nlohmann::json document = {{"fsync_per_s", info.fsyncPerSecond},
                                   {"fsync_per_s_start", info.fsyncPerSecondAtStart},
                                   {"fsync_per_s_end", info.fsyncPerSecondAtEnd},
                                   {"smoke", info.smoke},
                                   {"settings",
                                    {{"messages", info.messages},
                                     {"entities", info.entities},
                                     {"batch", info.batch},
                                     {"durable", info.durable},
                                     {"runs", info.runs}}},
                                   {"rows", std::move(list)}};
  out << document.dump(2) << "\n";
}

}  // namespace idem::bench
