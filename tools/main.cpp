// idem: run endpoints, send messages, inspect queues and error queues, and run the demos.
#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "idem/error.h"
#include "idem/version.h"
#include "store/bus_layout.h"
#include "store/version_store.h"
#include "tools/commands.h"
#include "tools/log_setup.h"
#include "tools/usage_error.h"

int main(int argc, char** argv) {
  idem::tools::levelsFromEnvironment();  // SPDLOG_LEVEL=debug, warn, ...
  CLI::App cli{"idem: exactly-once message processing, embedded by default"};
  cli.require_subcommand(1);
  int exitCode = 0;
  // The version of the project, and the on-disk formats this binary reads and writes.
  const std::string version = "idem " + std::string(idem::kVersion) + "\nversion store format " +
                              std::string(idem::store::kVersionStoreFormat) + "\nbus format " +
                              std::string(idem::store::bus::kFormat);
  cli.set_version_flag("--version", version, "Print the version and exit");
  cli.add_subcommand("version", "Print the version")->callback([&] {
    std::cout << version << "\n";
  });
  idem::tools::addRunCommand(cli, exitCode);
  idem::tools::addSendCommand(cli, exitCode);
  idem::tools::addQueuesCommand(cli, exitCode);
  idem::tools::addErrorsCommand(cli, exitCode);
  idem::tools::addDemoCommand(cli, exitCode);
  idem::tools::addInspectCommand(cli, exitCode);
  idem::tools::addAuditCommand(cli, exitCode);
  idem::tools::addReplayCommand(cli, exitCode);
  idem::tools::addGatewayCommand(cli, exitCode);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return 2;
  } catch (const idem::tools::UsageError& e) {
    std::cerr << "idem: " << e.what() << "\nRun with --help for more information.\n";
    return 2;
  } catch (const std::exception& e) {
    // idem::Error, or a file system or JSON failure: a clear exit 1. Printed plainly, without a
    // log line's timestamp: it is the command's answer, not a log record.
    std::cerr << "idem: " << e.what() << "\n";
    return 1;
  }
  return exitCode;
}
