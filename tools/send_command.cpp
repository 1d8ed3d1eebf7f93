// `idem send`: a message given as JSON, converted through its Cap'n Proto schema, sent into the
// embedded bus at the edge with a stable id (so that sending it again is a duplicate).
#include <chrono>
#include <iostream>
#include <memory>

#include "idem/edge.h"
#include "idem/embedded_transport.h"
#include "idem/error.h"
#include "tools/apps.h"
#include "tools/commands.h"
#include "tools/json_messages.h"
#include "tools/usage_error.h"
#include "tools/workspace.h"

namespace idem::tools {

namespace {

struct SendOptions {
  std::string app;
  std::string handlers;
  std::string dir;
  bool create = false;
  std::string to;
  std::string type;
  std::string json;
  std::string id;
  std::string key;
};

int send(const SendOptions& o) {
  const App app = chooseApp(o.app, o.handlers);
  const App::MessageType type = app.messageType(o.type);
  MessageId id;
  if (!o.id.empty()) {
    auto parsed = MessageId::fromHex(o.id);
    if (!parsed) throw UsageError("--id must be 32 hex digits, not '" + o.id + "'");
    id = *parsed;
  } else {
    // Without --id or --key the JSON itself is the stable key: the same command twice is one
    // logical message.
    id = MessageId::forEdge("idem send", o.key.empty() ? o.type + "\n" + o.json : o.key);
  }
  const std::string destination = o.to.empty() ? type.endpoint : o.to;
  app.handlers(destination);  // refuses, naming the app's endpoints, a destination nobody serves
  Words payload = canonicalFromJson(type.schema, o.json);
  const EdgeAddress address{id, destination, std::chrono::system_clock::now()};
  const std::uint64_t typeId = type.schema.getProto().getId();
  const Workspace workspace{o.dir};
  if (!o.create) workspace.requireExisting();
  EmbeddedTransportOptions busOptions;
  busOptions.busDirectory = workspace.bus();
  EmbeddedTransport bus(busOptions);
  Outbound message = edgeOutbound(address, typeId, edgeEnvelope(address, typeId, payload));
  bus.publish(std::span(&message, 1));
  std::cout << id.toHex() << "\n";
  return 0;
}

}  // namespace

void addSendCommand(CLI::App& cli, int& exitCode) {
  auto options = std::make_shared<SendOptions>();
  CLI::App* cmd =
      cli.add_subcommand("send", "Send a message given as JSON into the bus; prints its id");
  cmd->add_option("--app", options->app, "bank, orders or provider (whose schemas to use)");
  cmd->add_option("--handlers", options->handlers,
                  "your handler module (.so) whose schemas to use");
  cmd->add_option("--dir", options->dir, "workspace: DIR/bus")->required();
  cmd->add_flag("--create", options->create,
                "create the workspace when DIR has none (default: refuse, DIR may be a typo)");
  cmd->add_option("--type", options->type, "message type, e.g. StartTransfer")->required();
  cmd->add_option("--json", options->json, "the message as JSON, e.g. '{\"transferId\":\"t1\"}'")
      ->required();
  cmd->add_option("--to", options->to, "destination endpoint (default: the one that handles it)");
  auto* idOption = cmd->add_option("--id", options->id, "the message id, 32 hex digits");
  cmd->add_option("--key", options->key,
                  "a stable key the id is derived from (default: type and JSON)")
      ->excludes(idOption);
  cmd->callback([options, &exitCode] { exitCode = send(*options); });
}

}  // namespace idem::tools
