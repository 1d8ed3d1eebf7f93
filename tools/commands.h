// The idem tool's subcommands. Each adds itself to the CLI and, when chosen, stores its exit
// code in `exitCode`: 0 success, 1 the operation failed (reason on stderr), 2 bad usage.
#pragma once

#include <CLI/CLI.hpp>

namespace idem::tools {

void addRunCommand(CLI::App& cli, int& exitCode);
void addSendCommand(CLI::App& cli, int& exitCode);
void addQueuesCommand(CLI::App& cli, int& exitCode);
void addErrorsCommand(CLI::App& cli, int& exitCode);
void addDemoCommand(CLI::App& cli, int& exitCode);
void addInspectCommand(CLI::App& cli, int& exitCode);
void addAuditCommand(CLI::App& cli, int& exitCode);
void addReplayCommand(CLI::App& cli, int& exitCode);
void addGatewayCommand(CLI::App& cli, int& exitCode);

}  // namespace idem::tools
