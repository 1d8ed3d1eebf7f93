// Fatal-signal report: on SIGSEGV, SIGBUS, SIGABRT, SIGFPE or SIGILL, the process writes the
// signal and its call stack to stderr (the endpoint's log), then dies of the same signal, so a
// crash in production (or in a kill -9 test) names where it happened.
#pragma once

namespace idem::tools {

// Installs the report for the whole process. Call once, early in main(). Handlers installed
// later for one of these signals (the store's SIGBUS guard) take precedence while they are set.
void reportFatalSignals();

}  // namespace idem::tools
