// `idem queues` and `idem errors show|retry|purge`: the embedded bus (--dir) or NATS JetStream
// (--transport nats://...) from the shell.
#include <algorithm>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "framework/decoded_input.h"
#include "idem/embedded_transport.h"
#include "idem/envelope.capnp.h"
#include "idem/error.h"
#include "idem/nats_admin.h"
#include "tools/apps.h"
#include "tools/commands.h"
#include "tools/json_messages.h"
#include "tools/stats_files.h"
#include "tools/usage_error.h"
#include "tools/workspace.h"

namespace idem::tools {

namespace {

EmbeddedTransportOptions busOptions(const std::string& dir) {
  if (dir.empty())
    throw UsageError("say which queues: --dir DIR (embedded bus) or --transport URL");
  Workspace{dir}.requireExisting();
  EmbeddedTransportOptions options;
  options.busDirectory = Workspace{dir}.bus();
  return options;
}

EmbeddedTransport openBus(const std::string& dir) { return EmbeddedTransport(busOptions(dir)); }

std::string isoTime(TimePoint t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&seconds));
  return text;
}

// What an error's envelope says, as JSON: id, type, source and, with an app, the payload.
nlohmann::json describeEnvelope(const Bytes& bytes, const App* app) {
  nlohmann::json out;
  try {
    CanonicalReader reader(bytes, "envelope");
    auto envelope = reader.root<wire::Envelope>();
    auto id = MessageId::fromBytes({envelope.getId().begin(), envelope.getId().size()});
    out["id"] = id ? id->toHex() : "(malformed)";
    out["type"] = detail::messageTypeName(envelope.getMessageType());
    out["source"] = envelope.getSource().cStr();
    if (app != nullptr) {
      if (auto type = app->findMessageType(envelope.getMessageType())) {
        out["type"] = type->schema.getShortDisplayName().cStr();
        auto payload = envelope.getPayload();
        out["payload"] = nlohmann::json::parse(jsonFromCanonical(
            type->schema, {reinterpret_cast<const std::byte*>(payload.begin()), payload.size()}));
      }
    }
  } catch (const Error& e) {
    out["unreadable"] = e.what();
  }
  out["bytes"] = bytes.size();
  return out;
}

// True when `transport` names NATS; empty or "embedded" is the workspace's bus.
bool onNats(const std::string& transport) { return !transport.empty() && transport != "embedded"; }

NatsAdmin openNats(const std::string& transport) { return NatsAdmin(natsOptionsFor(transport)); }

void addTransportOptions(CLI::App* cmd, std::string& dir, std::string& transport) {
  cmd->add_option("--dir", dir, "workspace: DIR/bus (the embedded bus)");
  cmd->add_option("--transport", transport,
                  "embedded (default: DIR/bus) or nats://HOST:PORT (the JetStream streams)");
}

void addAppOptions(CLI::App* cmd, std::string& app, std::string& handlers, const char* what) {
  cmd->add_option("--app", app, std::string("built-in app (bank, orders, provider): ") + what);
  cmd->add_option("--handlers", handlers, std::string("your handler module (.so): ") + what);
}

// The app named by --app or --handlers, or none when neither is given.
std::optional<App> optionalApp(const std::string& app, const std::string& handlers) {
  if (app.empty() && handlers.empty()) return std::nullopt;
  return chooseApp(app, handlers);
}

// Throws idem::Error (permanent) when `endpoint` is neither an endpoint the queues know (one that
// subscribed, or was sent to) nor one of `app`'s: a typo must not read as "0 errors".
void requireKnownEndpoint(const std::vector<std::string>& known, const std::optional<App>& app,
                          const std::string& endpoint, const std::string& where) {
  if (std::find(known.begin(), known.end(), endpoint) != known.end()) return;
  if (app) {
    for (const AppEndpoint& e : app->endpoints) {
      if (e.name == endpoint) return;
    }
  }
  std::string names;
  for (const std::string& name : known) names += (names.empty() ? "" : ", ") + name;
  fail(ErrorKind::kPermanent, "no endpoint '" + endpoint + "' in " + where + " (it has " +
                                  (names.empty() ? std::string("none") : names) + ")");
}

// The endpoints of `queues` (QueueStats or NatsQueueStats), by name.
template <typename Stats>
std::vector<std::string> endpointNames(const std::vector<Stats>& queues) {
  std::vector<std::string> names;
  for (const Stats& q : queues) names.push_back(q.endpoint);
  return names;
}

struct ErrorsOptions {
  std::string dir;
  std::string transport;
  std::string endpoint;
  std::string app;
  std::string handlers;
  std::optional<std::uint64_t> id;
  bool json = false;
};

// NATS counts differ from the bus's: the server does not tell leased deliveries from those
// handed back with a delay (both are in-flight), and knows how many were redelivered.
void printNatsQueues(const std::vector<NatsQueueStats>& queues, bool json) {
  nlohmann::json rows = nlohmann::json::array();
  for (const NatsQueueStats& q : queues) {
    rows.push_back({{"endpoint", q.endpoint},
                    {"messages", q.messages},
                    {"ready", q.ready},
                    {"inFlight", q.inFlight},
                    {"redelivered", q.redelivered},
                    {"consumers", q.consumers},
                    {"errors", q.errors}});
  }
  if (json) {
    std::cout << rows.dump(2) << "\n";
    return;
  }
  std::printf("%-24s %10s %10s %10s %11s %10s\n", "endpoint", "messages", "ready", "in-flight",
              "redelivered", "errors");
  for (const NatsQueueStats& q : queues) {
    std::printf(
        "%-24s %10llu %10llu %10llu %11llu %10llu\n", q.endpoint.c_str(),
        static_cast<unsigned long long>(q.messages), static_cast<unsigned long long>(q.ready),
        static_cast<unsigned long long>(q.inFlight), static_cast<unsigned long long>(q.redelivered),
        static_cast<unsigned long long>(q.errors));
  }
}

}  // namespace

void addQueuesCommand(CLI::App& cli, int& exitCode) {
  auto dir = std::make_shared<std::string>();
  auto transport = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto app = std::make_shared<std::string>();
  auto handlers = std::make_shared<std::string>();
  CLI::App* cmd = cli.add_subcommand(
      "queues", "Depth, in-flight leases, delayed and error counts of every endpoint's queue");
  addTransportOptions(cmd, *dir, *transport);
  addAppOptions(cmd, *app, *handlers, "list its endpoints even when nothing was queued yet");
  cmd->add_flag("--json", *json, "print JSON");
  cmd->callback([dir, transport, json, app, handlers, &exitCode] {
    const std::optional<App> chosen = optionalApp(*app, *handlers);
    nlohmann::json rows = nlohmann::json::array();
    if (onNats(*transport)) {
      std::vector<NatsQueueStats> queues = openNats(*transport).queues();
      for (const AppEndpoint& e : chosen ? chosen->endpoints : std::vector<AppEndpoint>{}) {
        const auto names = endpointNames(queues);
        if (std::find(names.begin(), names.end(), e.name) == names.end()) {
          queues.push_back(NatsQueueStats{.endpoint = e.name});
        }
      }
      printNatsQueues(queues, *json);
      exitCode = 0;
      return;
    }
    EmbeddedTransport bus = openBus(*dir);
    (void)removeStatsOfGoneProcesses(Workspace{*dir});  // housekeeping an operator expects here
    std::vector<QueueStats> queues = bus.queues();
    for (const AppEndpoint& e : chosen ? chosen->endpoints : std::vector<AppEndpoint>{}) {
      const auto names = endpointNames(queues);
      if (std::find(names.begin(), names.end(), e.name) == names.end()) {
        queues.push_back(QueueStats{.endpoint = e.name});
      }
    }
    for (const QueueStats& q : queues) {
      rows.push_back({{"endpoint", q.endpoint},
                      {"ready", q.ready},
                      {"inFlight", q.inFlight},
                      {"delayed", q.delayed},
                      {"errors", q.errors}});
    }
    if (*json) {
      std::cout << rows.dump(2) << "\n";
    } else {
      std::printf("%-24s %10s %10s %10s %10s\n", "endpoint", "ready", "in-flight", "delayed",
                  "errors");
      for (const auto& r : rows) {
        std::printf("%-24s %10llu %10llu %10llu %10llu\n", r["endpoint"].get<std::string>().c_str(),
                    static_cast<unsigned long long>(r["ready"].get<std::uint64_t>()),
                    static_cast<unsigned long long>(r["inFlight"].get<std::uint64_t>()),
                    static_cast<unsigned long long>(r["delayed"].get<std::uint64_t>()),
                    static_cast<unsigned long long>(r["errors"].get<std::uint64_t>()));
      }
    }
    exitCode = 0;
  });
}

void addErrorsCommand(CLI::App& cli, int& exitCode) {
  CLI::App* errors = cli.add_subcommand("errors", "Show, retry or purge an endpoint's error queue");
  errors->require_subcommand(1);
  auto common = [](CLI::App* cmd, ErrorsOptions& o) {
    addTransportOptions(cmd, o.dir, o.transport);
    cmd->add_option("--endpoint", o.endpoint, "whose error queue")->required();
    cmd->add_option("--id", o.id, "one error (default: all)");
    addAppOptions(cmd, o.app, o.handlers, "decode payloads with its schemas, know its endpoints");
  };
  // The error queue's operations over the chosen transport, once the endpoint is known to it.
  struct Queue {
    std::function<std::vector<ErrorEntry>()> entries;
    std::function<std::size_t(std::optional<std::uint64_t>)> retry, purge;
  };
  auto openQueue = [](const ErrorsOptions& o, const std::optional<App>& app) {
    if (onNats(o.transport)) {
      auto nats = std::make_shared<NatsAdmin>(natsOptionsFor(o.transport));
      requireKnownEndpoint(endpointNames(nats->queues()), app, o.endpoint, o.transport);
      return Queue{[nats, o] { return nats->errors(o.endpoint); },
                   [nats, o](auto id) { return nats->retryErrors(o.endpoint, id); },
                   [nats, o](auto id) { return nats->purgeErrors(o.endpoint, id); }};
    }
    auto bus = std::make_shared<EmbeddedTransport>(busOptions(o.dir));
    requireKnownEndpoint(endpointNames(bus->queues()), app, o.endpoint, "the bus of " + o.dir);
    return Queue{[bus, o] { return bus->errors(o.endpoint); },
                 [bus, o](auto id) { return bus->retryErrors(o.endpoint, id); },
                 [bus, o](auto id) { return bus->purgeErrors(o.endpoint, id); }};
  };
  // An --id that names no error is a failure, not "0 moved".
  auto requireFound = [](const ErrorsOptions& o, std::size_t count) {
    if (o.id && count == 0) {
      fail(ErrorKind::kPermanent,
           "no error #" + std::to_string(*o.id) + " in the error queue of " + o.endpoint);
    }
  };

  auto show = std::make_shared<ErrorsOptions>();
  CLI::App* showCmd = errors->add_subcommand("show", "List the error queue, oldest first");
  common(showCmd, *show);
  showCmd->add_flag("--json", show->json, "print JSON");
  showCmd->callback([show, openQueue, requireFound, &exitCode] {
    const std::optional<App> chosen = optionalApp(show->app, show->handlers);
    const App* app = chosen ? &*chosen : nullptr;
    const std::vector<ErrorEntry> entries = openQueue(*show, chosen).entries();
    nlohmann::json rows = nlohmann::json::array();
    for (const ErrorEntry& e : entries) {
      if (show->id && e.id != *show->id) continue;
      rows.push_back({{"error", e.id},
                      {"reason", e.report.reason},
                      {"detail", e.report.detail},
                      {"attempts", e.report.attempts},
                      {"failedAt", isoTime(e.report.failedAt)},
                      {"message", describeEnvelope(e.envelope, app)}});
    }
    if (show->json) {
      std::cout << rows.dump(2) << "\n";
    } else {
      for (const auto& r : rows) {
        std::cout << "#" << r["error"] << "  " << r["failedAt"].get<std::string>() << "  attempts "
                  << r["attempts"] << "\n  reason:  " << r["reason"].get<std::string>()
                  << "\n  detail:  " << r["detail"].get<std::string>()
                  << "\n  message: " << r["message"].dump() << "\n";
      }
      std::cout << rows.size() << " error(s) in " << show->endpoint << "\n";
    }
    requireFound(*show, rows.size());
    exitCode = 0;
  });

  auto retry = std::make_shared<ErrorsOptions>();
  CLI::App* retryCmd = errors->add_subcommand("retry", "Move errors back to the ready queue");
  common(retryCmd, *retry);
  retryCmd->callback([retry, openQueue, requireFound, &exitCode] {
    const std::size_t moved =
        openQueue(*retry, optionalApp(retry->app, retry->handlers)).retry(retry->id);
    requireFound(*retry, moved);
    std::cout << moved << " error(s) moved back to " << retry->endpoint << "\n";
    exitCode = 0;
  });

  auto purge = std::make_shared<ErrorsOptions>();
  CLI::App* purgeCmd = errors->add_subcommand("purge", "Delete errors for good");
  common(purgeCmd, *purge);
  purgeCmd->callback([purge, openQueue, requireFound, &exitCode] {
    const std::size_t purged =
        openQueue(*purge, optionalApp(purge->app, purge->handlers)).purge(purge->id);
    requireFound(*purge, purged);
    std::cout << purged << " error(s) purged from " << purge->endpoint << "\n";
    exitCode = 0;
  });
}

}  // namespace idem::tools
