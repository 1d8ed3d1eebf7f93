// Metrics text: families in a fixed order, each with its HELP and TYPE, then one sample per
// endpoint.
#include "admin/metrics_text.h"

#include <cstdio>
#include <functional>

namespace idem::admin {

namespace {

std::string escaped(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string labels(const EndpointSample& s, const std::string& extra = "") {
  return "{endpoint=\"" + escaped(s.endpoint) + "\",partition=\"" + escaped(s.partition) + "\"" +
         extra + "}";
}

std::string seconds(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", value);
  return text;
}

class Writer {
 public:
  explicit Writer(const std::vector<EndpointSample>& samples) : samples_(samples) {}

  void family(const char* name, const char* type, const char* help,
              const std::function<std::uint64_t(const EndpointSample&)>& value,
              bool needsQueue = false) {
    header(name, type, help);
    for (const EndpointSample& s : samples_) {
      if (needsQueue && !s.queue) continue;
      text_ += std::string(name) + labels(s) + " " + std::to_string(value(s)) + "\n";
    }
  }

  void histogram(const char* name, const char* help,
                 const std::function<const LatencyHistogram&(const EndpointSample&)>& of) {
    header(name, "histogram", help);
    for (const EndpointSample& s : samples_) {
      const LatencyHistogram& h = of(s);
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
        cumulative += h.counts[i];
        const double le = std::chrono::duration<double>(LatencyHistogram::kBounds[i]).count();
        text_ += std::string(name) + "_bucket" + labels(s, ",le=\"" + seconds(le) + "\"") + " " +
                 std::to_string(cumulative) + "\n";
      }
      cumulative += h.counts.back();
      text_ += std::string(name) + "_bucket" + labels(s, ",le=\"+Inf\"") + " " +
               std::to_string(cumulative) + "\n";
      text_ += std::string(name) + "_sum" + labels(s) + " " +
               seconds(std::chrono::duration<double>(h.sum).count()) + "\n";
      text_ += std::string(name) + "_count" + labels(s) + " " + std::to_string(cumulative) + "\n";
    }
  }

  void header(const char* name, const char* type, const char* help) {
    text_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  std::string& text() { return text_; }

 private:
  const std::vector<EndpointSample>& samples_;
  std::string text_;
};

}  // namespace

std::string metricsText(const std::vector<EndpointSample>& samples, bool ready) {
  Writer w(samples);
  w.header("idem_ready", "gauge", "1 when every endpoint of the process is serving, else 0.");
  w.text() += std::string("idem_ready ") + (ready ? "1" : "0") + "\n";
  using S = const EndpointSample&;
  w.family("idem_batches_total", "counter", "Batches completed.",
           [](S s) { return s.stats.batches; });
  w.family("idem_processed_total", "counter", "First-time inputs committed.",
           [](S s) { return s.stats.processed; });
  w.family("idem_duplicates_total", "counter",
           "Copies of applied inputs re-run and re-emitted (outputs not yet confirmed).",
           [](S s) { return s.stats.duplicates; });
  w.family("idem_already_published_total", "counter",
           "Copies of applied inputs acked without a re-run (outputs confirmed).",
           [](S s) { return s.stats.alreadyPublished; });
  w.family("idem_pruned_duplicates_total", "counter",
           "Copies of applied inputs whose history retention pruned, acked without a re-run.",
           [](S s) { return s.stats.prunedDuplicates; });
  w.family("idem_published_total", "counter", "Messages handed to the transport.",
           [](S s) { return s.stats.published; });
  w.family("idem_retried_total", "counter", "Deliveries handed back for a delayed retry.",
           [](S s) { return s.stats.retried; });
  w.family("idem_dead_lettered_total", "counter", "Deliveries moved to the error queue.",
           [](S s) { return s.stats.deadLettered; });
  w.family("idem_non_determinism_errors_total", "counter",
           "Inputs whose handler gave different bytes on a re-run (sent to the error queue).",
           [](S s) { return s.stats.nonDeterminism; });
  w.family("idem_pruned_versions_total", "counter", "History entries removed by retention.",
           [](S s) { return s.stats.prunedVersions; });
  w.family("idem_pruned_applied_total", "counter", "Applied-index entries removed by retention.",
           [](S s) { return s.stats.prunedApplied; });
  w.family("idem_reemitted_owed_total", "counter",
           "Versions whose lost confirmation the endpoint re-emitted on its own.",
           [](S s) { return s.stats.reemittedOwed; });
  w.histogram("idem_batch_duration_seconds",
              "One batch from its receipt through commit, publish and ack.",
              [](S s) -> const LatencyHistogram& { return s.stats.batchLatency; });
  w.histogram("idem_commit_duration_seconds",
              "One batch's write transaction, handlers and the durable commit included.",
              [](S s) -> const LatencyHistogram& { return s.stats.commitLatency; });
  w.family(
      "idem_queue_ready", "gauge", "Messages receivable now.", [](S s) { return s.queue->ready; },
      true);
  w.family(
      "idem_queue_in_flight", "gauge", "Messages leased to a consumer, not yet settled.",
      [](S s) { return s.queue->inFlight; }, true);
  w.family(
      "idem_queue_delayed", "gauge", "Messages waiting for their delivery time.",
      [](S s) { return s.queue->delayed; }, true);
  w.family(
      "idem_queue_errors", "gauge", "Messages in the error queue.",
      [](S s) { return s.queue->errors; }, true);
  return std::move(w.text());
}

}  // namespace idem::admin
