// `idem queues` and `idem errors show|retry|purge`: the embedded bus (--dir) or NATS JetStream
// (--transport nats://...) from the shell.
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
#include "tools/workspace.h"

namespace idem::tools {

namespace {

EmbeddedTransport openBus(const std::string& dir) {
  if (dir.empty()) {
    fail(ErrorKind::kPermanent, "say which queues: --dir DIR (embedded bus) or --transport URL");
  }
  if (!std::filesystem::exists(Workspace{dir}.bus() / "data.mdb")) {
    fail(ErrorKind::kPermanent, "no bus in " + Workspace{dir}.bus().string());
  }
  EmbeddedTransportOptions options;
  options.busDirectory = Workspace{dir}.bus();
  return EmbeddedTransport(options);
}

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

struct ErrorsOptions {
  std::string dir;
  std::string transport;
  std::string endpoint;
  std::string app;
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
  CLI::App* cmd = cli.add_subcommand(
      "queues", "Depth, in-flight leases, delayed and error counts of every endpoint's queue");
  addTransportOptions(cmd, *dir, *transport);
  cmd->add_flag("--json", *json, "print JSON");
  cmd->callback([dir, transport, json, &exitCode] {
    nlohmann::json rows = nlohmann::json::array();
    if (onNats(*transport)) {
      printNatsQueues(openNats(*transport).queues(), *json);
      exitCode = 0;
      return;
    }
    EmbeddedTransport bus = openBus(*dir);
    for (const QueueStats& q : bus.queues()) {
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
  };

  auto show = std::make_shared<ErrorsOptions>();
  CLI::App* showCmd = errors->add_subcommand("show", "List the error queue, oldest first");
  common(showCmd, *show);
  showCmd->add_option("--app", show->app, "decode payloads with this app's schemas");
  showCmd->add_flag("--json", show->json, "print JSON");
  showCmd->callback([show, &exitCode] {
    const App* app = show->app.empty() ? nullptr : &findApp(show->app);
    const std::vector<ErrorEntry> entries = onNats(show->transport)
                                                ? openNats(show->transport).errors(show->endpoint)
                                                : openBus(show->dir).errors(show->endpoint);
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
    exitCode = 0;
  });

  auto retry = std::make_shared<ErrorsOptions>();
  CLI::App* retryCmd = errors->add_subcommand("retry", "Move errors back to the ready queue");
  common(retryCmd, *retry);
  retryCmd->callback([retry, &exitCode] {
    const std::size_t moved =
        onNats(retry->transport)
            ? openNats(retry->transport).retryErrors(retry->endpoint, retry->id)
            : openBus(retry->dir).retryErrors(retry->endpoint, retry->id);
    std::cout << moved << " error(s) moved back to " << retry->endpoint << "\n";
    exitCode = 0;
  });

  auto purge = std::make_shared<ErrorsOptions>();
  CLI::App* purgeCmd = errors->add_subcommand("purge", "Delete errors for good");
  common(purgeCmd, *purge);
  purgeCmd->callback([purge, &exitCode] {
    const std::size_t purged =
        onNats(purge->transport)
            ? openNats(purge->transport).purgeErrors(purge->endpoint, purge->id)
            : openBus(purge->dir).purgeErrors(purge->endpoint, purge->id);
    std::cout << purged << " error(s) purged from " << purge->endpoint << "\n";
    exitCode = 0;
  });
}

}  // namespace idem::tools
