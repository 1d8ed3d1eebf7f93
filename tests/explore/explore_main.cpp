// idem-explore: enumerates every execution of a small configuration of the real pipeline
// (depth-first over choice sequences, each execution replayed from scratch, states cached) and
// checks DESIGN.md §4's oracles by bytes in each. docs/exploration.md explains the reduction.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <unordered_set>

#include "tests/explore/explore_world.h"

namespace {

using idem::explore::Chooser;
using idem::explore::Config;
using idem::explore::Digest;
using idem::explore::DigestHash;
using idem::explore::Execution;

// Replays `prefix`, then takes the first alternative at every new choice point; cuts where the
// state was reached before. Records each point's alternative count for backtracking.
class DfsChooser : public Chooser {
 public:
  DfsChooser(const std::vector<std::size_t>& prefix, std::vector<std::optional<Digest>>& path,
             std::unordered_set<Digest, DigestHash>* visited)
      : prefix_(prefix), path_(path), visited_(visited) {}

  std::optional<std::size_t> choose(std::size_t count,
                                    const std::optional<Digest>& state) override {
    const std::size_t pos = counts.size();
    if (pos < prefix_.size()) {
      if (prefix_[pos] >= count) {
        diverged = true;
        return std::nullopt;
      }
      counts.push_back(count);
      return prefix_[pos];
    }
    if (visited_ != nullptr && state) {
      if (!visited_->insert(*state).second) {
        // Reached before: everything after it was (or, on the current path, is being) explored.
        // On the current path it is a cycle: an execution that can run for ever (O8).
        for (const auto& p : path_) {
          if (p && *p == *state) cycle = true;
        }
        cut = true;
        return std::nullopt;
      }
    }
    path_.resize(pos);
    path_.push_back(state);
    counts.push_back(count);
    return 0;
  }
  bool wantsState() const override {
    return visited_ != nullptr && counts.size() >= prefix_.size();
  }

  std::vector<std::size_t> counts;
  bool cut = false, cycle = false, diverged = false;

 private:
  const std::vector<std::size_t>& prefix_;
  std::vector<std::optional<Digest>>& path_;
  std::unordered_set<Digest, DigestHash>* visited_;
};

std::string join(const std::vector<std::size_t>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

std::vector<std::size_t> parseList(const std::string& text) {
  std::vector<std::size_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(std::stoul(item));
  }
  return out;
}

int usage() {
  std::cerr
      << "usage: idem-explore [--scenario consumers|chain] [--batch N] [--duplicates N]\n"
         "         [--crashes N] [--max-steps N] [--no-cache] [--no-silent] [--expect-violation]\n"
         "         [--mutant ack-early|hidden-counter] [--replay 0,1,...]\n"
         "   IDEM_EXPLORE_MUTANT=... selects a mutant too.\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::off);
  // Each execution creates its stores afresh: on tmpfs when there is one, unless TMPDIR says.
  if (std::getenv("TMPDIR") == nullptr && std::filesystem::is_directory("/dev/shm")) {
    ::setenv("TMPDIR", "/dev/shm", 1);
  }
  Config config;
  bool cache = true, expectViolation = false, replay = false;
  std::vector<std::size_t> replayChoices;
  std::string mutant = std::getenv("IDEM_EXPLORE_MUTANT") ? std::getenv("IDEM_EXPLORE_MUTANT") : "";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) std::exit(usage());
      return argv[++i];
    };
    if (arg == "--scenario") {
      const std::string s = value();
      if (s == "consumers") {
        config.scenario = idem::explore::Scenario::kConsumers;
      } else if (s == "chain") {
        config.scenario = idem::explore::Scenario::kChain;
      } else {
        return usage();
      }
    } else if (arg == "--batch") {
      config.batchSize = std::stoul(value());
    } else if (arg == "--duplicates") {
      config.duplicates = static_cast<unsigned>(std::stoul(value()));
    } else if (arg == "--crashes") {
      config.crashes = static_cast<unsigned>(std::stoul(value()));
    } else if (arg == "--max-steps") {
      config.maxSteps = static_cast<unsigned>(std::stoul(value()));
    } else if (arg == "--no-silent") {
      config.mergeSilent = false;
    } else if (arg == "--no-cache") {
      cache = false;
    } else if (arg == "--expect-violation") {
      expectViolation = true;
    } else if (arg == "--mutant") {
      mutant = value();
    } else if (arg == "--replay") {
      replay = true;
      replayChoices = parseList(value());
    } else {
      return usage();
    }
  }
  if (mutant == "ack-early") {
    config.mutant = idem::explore::Mutant::kAckEarly;
  } else if (mutant == "hidden-counter") {
    config.mutant = idem::explore::Mutant::kHiddenCounter;
  } else if (!mutant.empty()) {
    return usage();
  }
  const char* scenario =
      config.scenario == idem::explore::Scenario::kChain ? "chain A -> B" : "two consumers";
  std::cout << "idem-explore: " << scenario << ", batch " << config.batchSize << ", "
            << config.duplicates << " duplicate(s), " << config.crashes
            << (config.scenario == idem::explore::Scenario::kChain ? " crash(es) in total"
                                                                   : " crash(es) per consumer")
            << (mutant.empty() ? "" : ", mutant " + mutant) << "\n";

  if (replay) {
    std::vector<std::optional<Digest>> path;
    DfsChooser chooser(replayChoices, path, nullptr);
    Execution e = idem::explore::runExecution(config, chooser);
    for (std::size_t i = 0; i < e.trace.size(); ++i) {
      std::cout << "  " << i << ": [" << e.choices[i] << "/" << chooser.counts[i] << "] "
                << e.trace[i] << "\n";
    }
    if (chooser.diverged) std::cout << "the schedule does not fit this configuration\n";
    for (const std::string& v : e.violations) std::cout << "VIOLATION: " << v << "\n";
    std::cout << (e.violations.empty() ? "no violation\n" : "");
    return e.violations.empty() == !expectViolation ? 0 : 1;
  }

  const auto start = std::chrono::steady_clock::now();
  std::unordered_set<Digest, DigestHash> visited;
  std::vector<std::optional<Digest>> path;
  std::vector<std::size_t> prefix;
  std::uint64_t executions = 0, silentStops = 0, drained = 0, cut = 0, violating = 0, longest = 0;
  constexpr std::uint64_t kPrintedViolations = 5;
  for (;;) {
    DfsChooser chooser(prefix, path, cache ? &visited : nullptr);
    Execution e = idem::explore::runExecution(config, chooser);
    ++executions;
    silentStops += e.silentStops;
    longest = std::max<std::uint64_t>(longest, e.choices.size());
    if (chooser.cycle) e.violations.push_back("O8: a cycle of states (can run for ever)");
    if (e.end == Execution::End::kDrained) ++drained;
    if (chooser.cut) ++cut;
    if (!e.violations.empty()) {
      if (++violating <= kPrintedViolations) {
        std::cout << "VIOLATION: " << e.violations.front() << "\n  replay: --replay "
                  << join(e.choices) << "\n";
      }
    }
    if (expectViolation && violating > 0) break;  // the mutant is caught: enough
    if (executions % 20000 == 0) {
      std::cerr << "  ... " << executions << " executions, " << visited.size() << " states\n";
    }
    // Backtrack to the deepest choice point with an alternative left.
    std::vector<std::size_t> taken = e.choices;
    std::size_t pos = chooser.counts.size();
    while (pos > 0 && taken[pos - 1] + 1 >= chooser.counts[pos - 1]) --pos;
    if (pos == 0) break;
    taken.resize(pos);
    ++taken[pos - 1];
    prefix = std::move(taken);
    if (path.size() > pos) path.resize(pos);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "explored " << executions << " executions (" << drained << " drained, " << cut
            << " cut by state caching; " << visited.size() << " distinct states, longest "
            << longest << " choice points; " << silentStops
            << " silent stops not offered as choices) in " << seconds << " s, " << violating
            << " violation(s)\n";
  if (expectViolation) {
    std::cout << (violating > 0 ? "expected violation found\n" : "expected a violation, none\n");
    return violating > 0 ? 0 : 1;
  }
  return violating == 0 ? 0 : 1;
}
