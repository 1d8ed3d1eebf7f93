// idem: run endpoints, send messages, inspect queues and error queues, and run the demos.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "idem/error.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App cli{"idem: exactly-once message processing, embedded by default"};
  cli.require_subcommand(1);
  int exitCode = 0;
  idem::tools::addRunCommand(cli, exitCode);
  idem::tools::addSendCommand(cli, exitCode);
  idem::tools::addQueuesCommand(cli, exitCode);
  idem::tools::addErrorsCommand(cli, exitCode);
  idem::tools::addDemoCommand(cli, exitCode);
  idem::tools::addInspectCommand(cli, exitCode);
  idem::tools::addAuditCommand(cli, exitCode);
  idem::tools::addReplayCommand(cli, exitCode);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return 2;
  } catch (const idem::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  } catch (const std::exception& e) {  // a file system or JSON failure: still a clear exit 1
    spdlog::error("{}", e.what());
    return 1;
  }
  return exitCode;
}
