// `idem demo`: placeholder until the demo driver lands.
#include "tools/commands.h"

namespace idem::tools {
void addDemoCommand(CLI::App&, int&) {}
}  // namespace idem::tools
