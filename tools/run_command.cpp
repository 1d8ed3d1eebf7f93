// `idem run`: serve endpoints of a built-in app or of a handler module until SIGTERM/SIGINT
// (tools/serve.h).
#include <memory>

#include "tools/apps.h"
#include "tools/commands.h"
#include "tools/serve.h"

namespace idem::tools {

void addRunCommand(CLI::App& cli, int& exitCode) {
  auto app = std::make_shared<std::string>();
  auto module = std::make_shared<std::string>();
  auto options = std::make_shared<ServeOptions>();
  CLI::App* cmd =
      cli.add_subcommand("run", "Serve endpoints of an app until SIGTERM/SIGINT (then drain)");
  cmd->add_option("--app", *app, "a built-in app: bank or orders");
  cmd->add_option("--handlers", *module,
                  "your handler module (.so built with IDEM_MODULE, include/idem/module.h)");
  cmd->add_option("--endpoint", options->endpoints, "endpoint to serve (repeatable)")->required();
  cmd->add_option("--dir", options->dir, "workspace: DIR/bus and DIR/stores/<endpoint>")
      ->required();
  cmd->add_option("--batch", options->batchSize, "inputs per transaction (group commit)")
      ->capture_default_str();
  cmd->add_option("--lease-ms", options->leaseMs, "how long a received message stays invisible")
      ->capture_default_str();
  cmd->add_option("--transport", options->transport,
                  "embedded (default: DIR/bus) or nats://HOST:PORT (NATS JetStream)");
  auto partitions = std::make_shared<std::string>();
  cmd->add_option("--partition-count", options->partitionCount,
                  "NATS: partitions of each served endpoint (fixed once recorded on the server)");
  cmd->add_option("--partitions", *partitions,
                  "NATS: the partitions this process owns, e.g. 0,2 or 0-3 (default: all of 1)");
  cmd->add_option("--nats-creds", options->natsCredentialsFile,
                  "NATS: a .creds file (user JWT + NKey seed)");
  cmd->add_option("--nats-user", options->natsUser,
                  "NATS: user name; the password comes from $IDEM_NATS_PASSWORD");
  cmd->add_option("--nats-ca", options->natsTlsCaFile,
                  "NATS: require TLS and verify the server against this CA file");
  cmd->add_option("--nats-cert", options->natsTlsCertFile, "NATS: TLS client certificate");
  cmd->add_option("--nats-key", options->natsTlsKeyFile, "NATS: TLS client key");
  cmd->add_option("--nats-replicas", options->natsReplicas,
                  "NATS: replicas of the streams this process creates (3 on a cluster)")
      ->capture_default_str();
  cmd->add_flag("--no-fsync", options->noFsync, "skip fsync (benchmarks only: unsafe on OS crash)");
  cmd->callback([app, module, options, partitions, &exitCode] {
    if (!partitions->empty()) options->partitions = parsePartitionList(*partitions);
    const App chosen = chooseApp(*app, *module);
    for (const std::string& endpoint : options->endpoints) (void)chosen.handlers(endpoint);
    exitCode = serve(chosen, *options);
  });
}

}  // namespace idem::tools
