// RunConfig: the TOML file through toml++, every key read by name and every other key refused.
#include "tools/run_config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <set>
#include <sstream>

#include "idem/error.h"

namespace idem::tools {

namespace {

// One table of the file: its keys read by name, then unknown() refuses what was not read.
class Section {
 public:
  Section(const std::filesystem::path& file, const toml::table& table, std::string prefix)
      : file_(file), table_(table), prefix_(std::move(prefix)) {}

  template <typename Int>
  void integer(std::string_view key, Int& out) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    const auto value = node->value<std::int64_t>();
    if (!node->is_integer() || !value) wrong(*node, key, "an integer");
    if (*value < 0 || static_cast<std::uint64_t>(*value) > std::numeric_limits<Int>::max()) {
      wrong(*node, key, "an integer from 0 to " + std::to_string(std::numeric_limits<Int>::max()));
    }
    out = static_cast<Int>(*value);
  }
  void boolean(std::string_view key, bool& out) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    if (!node->is_boolean()) wrong(*node, key, "true or false");
    out = *node->value<bool>();
  }
  void text(std::string_view key, std::string& out) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    if (!node->is_string()) wrong(*node, key, "a string");
    out = *node->value<std::string>();
  }
  void texts(std::string_view key, std::vector<std::string>& out) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    const toml::array* array = node->as_array();
    // (toml++ calls an empty array of no type: `[]` is an empty list.)
    if (array == nullptr || (!array->empty() && !array->is_homogeneous(toml::node_type::string))) {
      wrong(*node, key, "an array of strings");
    }
    out.clear();
    for (const toml::node& item : *array) out.push_back(*item.value<std::string>());
  }
  template <typename Duration>
  void duration(std::string_view key, Duration& out) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    if (!node->is_string()) wrong(*node, key, "a duration such as \"250ms\", \"30s\" or \"7d\"");
    try {
      out = std::chrono::duration_cast<Duration>(parseDuration(*node->value<std::string>()));
    } catch (const Error& e) {
      wrong(*node, key, e.what());
    }
  }
  // The sub-table `key`, when the file has it.
  std::optional<Section> table(std::string_view key) {
    const toml::node* node = take(key);
    if (node == nullptr) return std::nullopt;
    if (!node->is_table()) wrong(*node, key, "a table ([" + name(key) + "])");
    return Section(file_, *node->as_table(), name(key) + ".");
  }
  // Every key of this table, each of which must name a table: `read(key, itsSection)`.
  template <typename Read>
  void eachTable(Read read) {
    for (const auto& [key, node] : table_) {
      const std::string k(key.str());
      read_.insert(k);
      if (!node.is_table()) wrong(node, k, "a table ([" + name(k) + "])");
      Section section(file_, *node.as_table(), name(k) + ".");
      read(k, section);
    }
  }
  // Throws naming the first key of this table that no call above read.
  void refuseUnknown() const {
    for (const auto& [key, value] : table_) {
      if (read_.count(std::string(key.str())) == 0) {
        fail(ErrorKind::kPermanent, where(key.source()) + "unknown key '" + name(key.str()) +
                                        "' (docs/operations.md lists every key)");
      }
    }
  }

 private:
  const toml::node* take(std::string_view key) {
    read_.insert(std::string(key));
    return table_.get(key);
  }
  std::string name(std::string_view key) const { return prefix_ + std::string(key); }
  std::string where(const toml::node& node) const { return where(node.source()); }
  std::string where(const toml::source_region& region) const {
    const auto& begin = region.begin;
    return file_.string() + ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column) +
           ": ";
  }
  [[noreturn]] void wrong(const toml::node& node, std::string_view key,
                          const std::string& expected) const {
    std::ostringstream got;
    got << node.type();
    fail(ErrorKind::kPermanent,
         where(node) + "'" + name(key) + "' must be " + expected + " (it is a " + got.str() + ")");
  }

  const std::filesystem::path& file_;
  const toml::table& table_;
  std::string prefix_;
  std::set<std::string> read_;
};

void readEndpoint(Section& s, EndpointOptions& o) {
  s.integer("batch_size", o.batchSize);
  s.duration("batch_wait", o.batchWait);
  s.integer("snapshot_every", o.snapshotEvery);
  s.integer("max_message_bytes", o.maxMessageBytes);
  s.boolean("verify_determinism", o.verifyDeterminism);
  s.boolean("replay_published_duplicates", o.replayPublishedDuplicates);
  s.duration("reemit_owed_after", o.reemitOwedAfter);
  s.integer("initial_map_bytes", o.initialMapBytes);
  s.boolean("durable", o.durable);
  if (auto retry = s.table("retry")) {
    retry->integer("immediate_retries", o.retry.immediateRetries);
    retry->integer("delayed_retries", o.retry.delayedRetries);
    retry->duration("first_delay", o.retry.firstDelay);
    retry->refuseUnknown();
  }
  if (auto retention = s.table("retention")) {
    retention->boolean("enabled", o.retention.enabled);
    retention->duration("history_horizon", o.retention.historyHorizon);
    retention->duration("applied_horizon", o.retention.appliedHorizon);
    retention->integer("records_per_batch", o.retention.recordsPerBatch);
    retention->refuseUnknown();
  }
  s.refuseUnknown();
}

void readEmbedded(Section& s, EmbeddedTransportOptions& o) {
  s.duration("lease_timeout", o.leaseTimeout);
  s.integer("max_depth", o.maxDepth);
  s.integer("max_message_bytes", o.maxMessageBytes);
  s.boolean("durable", o.durable);
  s.integer("initial_map_bytes", o.initialMapBytes);
  s.integer("max_map_bytes", o.maxMapBytes);
  s.refuseUnknown();
}

void readNats(Section& s, NatsTransportOptions& o) {
  s.text("credentials_file", o.credentialsFile);
  s.text("user", o.user);
  s.text("tls_ca_file", o.tlsCaFile);
  s.text("tls_cert_file", o.tlsCertFile);
  s.text("tls_key_file", o.tlsKeyFile);
  s.integer("replicas", o.replicas);
  s.duration("ack_wait", o.ackWait);
  s.integer("max_deliveries", o.maxDeliveries);
  s.duration("duplicate_window", o.duplicateWindow);
  s.duration("publish_timeout", o.publishTimeout);
  s.duration("connect_timeout", o.connectTimeout);
  s.duration("reconnect_wait", o.reconnectWait);
  s.integer("max_ack_pending", o.maxAckPending);
  s.refuseUnknown();
}

void readCalls(Section& s, calls::CallRunnerOptions& o) {
  std::vector<std::string> services;
  s.texts("services", services);
  for (const std::string& service : services) {
    auto [name, url] = calls::parseServiceFlag(service);
    o.services.insert_or_assign(name, url);
  }
  s.duration("request_timeout", o.requestTimeout);
  s.duration("max_call_age", o.maxCallAge);
  s.text("tls_ca_file", o.tls.caFile);
  s.text("tls_cert_file", o.tls.certFile);
  s.text("tls_key_file", o.tls.keyFile);
  s.refuseUnknown();
}

void readGateway(Section& s, GatewayConfig& o) {
  s.texts("endpoints", o.endpoints);
  s.text("listen", o.listen);
  s.text("name", o.name);
  s.duration("wait", o.wait);
  s.text("auth_tokens_file", o.authTokensFile);
  s.integer("max_connections", o.maxConnections);
  s.duration("request_timeout", o.requestTimeout);
  s.boolean("service", o.service);
  s.duration("max_call_age", o.maxCallAge);
  s.text("tls_cert_file", o.tlsCertFile);
  s.text("tls_key_file", o.tlsKeyFile);
  s.text("tls_client_ca_file", o.tlsClientCaFile);
  s.refuseUnknown();
}

}  // namespace

std::chrono::nanoseconds parseDuration(std::string_view text) {
  std::uint64_t count = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), count);
  const std::string_view unit(end, text.data() + text.size() - end);
  using namespace std::chrono;
  const std::pair<std::string_view, nanoseconds> units[] = {
      {"ns", 1ns}, {"us", 1us}, {"ms", 1ms}, {"s", 1s}, {"m", 1min}, {"h", 1h}, {"d", 24h}};
  if (ec == std::errc() && end != text.data()) {
    for (const auto& [name, size] : units) {
      if (unit == name && count <= std::uint64_t(nanoseconds::max().count() / size.count())) {
        return size * static_cast<std::int64_t>(count);
      }
    }
  }
  fail(ErrorKind::kPermanent, "not a duration (a whole number and ns, us, ms, s, m, h or d): \"" +
                                  std::string(text) + "\"");
}

void checkEndpointNames(const RunConfig& config, const App& app,
                        const std::filesystem::path& file) {
  std::string unknown;
  for (const auto& [name, options] : config.serve.perEndpoint) {
    const bool known = std::any_of(app.endpoints.begin(), app.endpoints.end(),
                                   [&](const AppEndpoint& e) { return e.name == name; });
    if (!known) unknown += (unknown.empty() ? "'" : ", '") + name + "'";
  }
  if (unknown.empty()) return;
  std::string names;
  for (const AppEndpoint& e : app.endpoints) names += (names.empty() ? "" : ", ") + e.name;
  fail(ErrorKind::kPermanent, file.string() + ": [per_endpoint] names " + unknown +
                                  ", not an endpoint of app " + app.name + " (it has " + names +
                                  ")");
}

RunConfig loadRunConfig(const std::filesystem::path& file, RunConfig config) {
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    fail(ErrorKind::kPermanent, file.string() + ":" + std::to_string(begin.line) + ":" +
                                    std::to_string(begin.column) + ": " +
                                    std::string(e.description()));
  }
  Section top(file, root, "");
  top.text("app", config.app);
  top.text("handlers", config.handlers);
  top.texts("endpoints", config.serve.endpoints);
  top.text("dir", config.serve.dir);
  top.text("transport", config.serve.transport);
  top.integer("partition_count", config.serve.partitionCount);
  std::string partitions;
  top.text("partitions", partitions);
  applyPartitionsFlag(config.serve, partitions);
  top.text("member", config.serve.member);
  top.text("admin", config.serve.admin);
  top.text("log_format", config.logFormat);
  if (config.logFormat != "text" && config.logFormat != "json") {
    fail(ErrorKind::kPermanent, file.string() +
                                    ": 'log_format' must be \"text\" or \"json\", not \"" +
                                    config.logFormat + "\"");
  }
  if (auto endpoint = top.table("endpoint")) readEndpoint(*endpoint, config.serve.endpoint);
  // Not [endpoints.NAME]: `endpoints` is the list of endpoints served. Read after [endpoint],
  // wherever the file has it, so that each is over the file's defaults.
  if (auto perEndpoint = top.table("per_endpoint")) {
    perEndpoint->eachTable([&](const std::string& name, Section& section) {
      EndpointOptions options = config.serve.endpointOptions(name);
      readEndpoint(section, options);
      config.serve.perEndpoint.insert_or_assign(name, std::move(options));
    });
  }
  if (auto embedded = top.table("embedded")) readEmbedded(*embedded, config.serve.embedded);
  if (auto nats = top.table("nats")) readNats(*nats, config.serve.nats);
  if (auto calls = top.table("calls")) readCalls(*calls, config.serve.calls);
  if (auto gateway = top.table("gateway")) readGateway(*gateway, config.gateway);
  top.refuseUnknown();
  return config;
}

}  // namespace idem::tools
