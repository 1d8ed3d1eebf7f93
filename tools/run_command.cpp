// `idem run`: serve endpoints of a built-in app or of a handler module until SIGTERM/SIGINT
// (tools/serve.h), configured by a TOML file (tools/run_config.h) and flags that override it.
#include <memory>
#include <optional>

#include "tools/apps.h"
#include "tools/commands.h"
#include "tools/log_setup.h"
#include "tools/run_config.h"
#include "tools/serve.h"
#include "tools/usage_error.h"

namespace idem::tools {

namespace {

// The flags, each unset unless given: a given flag overrides the configuration file.
struct RunFlags {
  std::string config;
  std::optional<std::string> app, handlers, dir, transport, partitions, member, admin, logFormat;
  std::vector<std::string> endpoints;
  std::vector<std::string> callServices;
  std::optional<std::size_t> batchSize;
  std::optional<unsigned> leaseMs;
  std::optional<std::uint32_t> partitionCount;
  std::optional<std::string> natsCredentials, natsUser, natsCa, natsCert, natsKey;
  std::optional<std::string> callCa, callCert, callKey;
  std::optional<int> natsReplicas;
  bool noFsync = false;
};

RunConfig configure(const RunFlags& f) {
  RunConfig c = f.config.empty() ? RunConfig{} : loadRunConfig(f.config);
  ServeOptions& o = c.serve;
  if (f.app) c.app = *f.app;
  if (f.handlers) c.handlers = *f.handlers;
  if (f.app && !f.handlers) c.handlers.clear();  // --app replaces the file's handlers, and
  if (f.handlers && !f.app) c.app.clear();       // --handlers the file's app
  if (f.logFormat) c.logFormat = *f.logFormat;
  if (!f.endpoints.empty()) o.endpoints = f.endpoints;
  if (f.dir) o.dir = *f.dir;
  if (f.transport) o.transport = *f.transport;
  if (f.partitionCount) o.partitionCount = *f.partitionCount;
  if (f.partitions) applyPartitionsFlag(o, *f.partitions);
  if (f.member) o.member = *f.member;
  if (f.admin) o.admin = *f.admin;
  if (f.batchSize) o.changeEveryEndpoint([&](EndpointOptions& e) { e.batchSize = *f.batchSize; });
  if (f.leaseMs) o.setLease(std::chrono::milliseconds(*f.leaseMs));
  if (f.natsCredentials) o.nats.credentialsFile = *f.natsCredentials;
  if (f.natsUser) o.nats.user = *f.natsUser;
  if (f.natsCa) o.nats.tlsCaFile = *f.natsCa;
  if (f.natsCert) o.nats.tlsCertFile = *f.natsCert;
  if (f.natsKey) o.nats.tlsKeyFile = *f.natsKey;
  if (f.natsReplicas) o.nats.replicas = *f.natsReplicas;
  if (f.noFsync) o.setNoFsync();
  for (const std::string& service : f.callServices) {
    auto [name, url] = calls::parseServiceFlag(service);
    o.calls.services.insert_or_assign(name, url);
  }
  if (f.callCa) o.calls.tls.caFile = *f.callCa;
  if (f.callCert) o.calls.tls.certFile = *f.callCert;
  if (f.callKey) o.calls.tls.keyFile = *f.callKey;
  const std::string from = f.config.empty() ? "" : " (or in " + f.config + ")";
  if (o.endpoints.empty()) throw UsageError("say which endpoints to serve: --endpoint NAME" + from);
  if (o.dir.empty()) throw UsageError("say where the workspace is: --dir DIR" + from);
  return c;
}

}  // namespace

void addRunCommand(CLI::App& cli, int& exitCode) {
  auto f = std::make_shared<RunFlags>();
  CLI::App* cmd =
      cli.add_subcommand("run", "Serve endpoints of an app until SIGTERM/SIGINT (then drain)");
  cmd->add_option("--config", f->config,
                  "a TOML file with any of the settings below and every endpoint and transport "
                  "option (docs/operations.md); flags override it")
      ->check(CLI::ExistingFile);
  cmd->add_option("--app", f->app, "a built-in app: bank, orders or provider");
  cmd->add_option("--handlers", f->handlers,
                  "your handler module (.so built with IDEM_MODULE, include/idem/module.h)");
  cmd->add_option("--endpoint", f->endpoints, "endpoint to serve (repeatable)");
  cmd->add_option("--dir", f->dir, "workspace: DIR/bus and DIR/stores/<endpoint>");
  cmd->add_option("--batch", f->batchSize, "inputs per transaction (group commit; default 256)");
  cmd->add_option("--lease-ms", f->leaseMs,
                  "how long a received message stays invisible (default 30000)");
  cmd->add_option("--transport", f->transport,
                  "embedded (default: DIR/bus) or nats://HOST:PORT (NATS JetStream)");
  cmd->add_option("--admin", f->admin,
                  "HOST:PORT to serve /metrics (Prometheus), /healthz and /readyz on");
  cmd->add_option("--log-format", f->logFormat, "text (default) or json (one object per line)");
  cmd->add_option("--partition-count", f->partitionCount,
                  "NATS: partitions of each served endpoint (fixed once recorded on the server)");
  cmd->add_option("--partitions", f->partitions,
                  "NATS: the partitions this process owns, e.g. 0,2 or 0-3 (default: all of 1), "
                  "or auto: balanced over the live processes, fenced, with changelogs");
  cmd->add_option("--member", f->member,
                  "NATS, --partitions auto: this process's name in the group (default: host-pid)");
  cmd->add_option("--nats-creds", f->natsCredentials, "NATS: a .creds file (user JWT + NKey seed)");
  cmd->add_option("--nats-user", f->natsUser,
                  "NATS: user name; the password comes from $IDEM_NATS_PASSWORD");
  cmd->add_option("--nats-ca", f->natsCa,
                  "NATS: require TLS and verify the server against this CA file");
  cmd->add_option("--nats-cert", f->natsCert, "NATS: TLS client certificate");
  cmd->add_option("--nats-key", f->natsKey, "NATS: TLS client key");
  cmd->add_option("--nats-replicas", f->natsReplicas,
                  "NATS: replicas of the streams this process creates (3 on a cluster; default 1)");
  cmd->add_option("--call-service", f->callServices,
                  "NAME=URL: the base URL of a service the handlers call with idem::call() "
                  "(repeatable; served with the http-calls endpoint, docs/http.md)");
  cmd->add_option("--call-ca", f->callCa,
                  "https: services are verified against this CA file (default: the system's)");
  cmd->add_option("--call-cert", f->callCert,
                  "client certificate for services that require one (with --call-key)");
  cmd->add_option("--call-key", f->callKey, "the client certificate's private key");
  cmd->add_flag("--no-fsync", f->noFsync, "skip fsync (benchmarks only: unsafe on OS crash)");
  cmd->callback([f, &exitCode] {
    const RunConfig config = configure(*f);
    useLogFormat(config.logFormat);
    const App app = chooseApp(config.app, config.handlers);
    if (!f->config.empty()) checkEndpointNames(config, app, f->config);
    for (const std::string& endpoint : config.serve.endpoints) (void)app.handlers(endpoint);
    exitCode = serve(app, config.serve);
  });
}

}  // namespace idem::tools
