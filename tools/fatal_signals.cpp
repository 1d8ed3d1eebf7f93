// Fatal-signal report: backtrace(3) to stderr from the signal handler, then the default action.
#include "tools/fatal_signals.h"

#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

namespace idem::tools {

namespace {

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
constexpr int kMaxFrames = 64;

void write(const char* text) {
  const ssize_t ignored = ::write(STDERR_FILENO, text, ::strlen(text));
  (void)ignored;
}

void onFatalSignal(int signal) {
  // Only async-signal-safe calls, apart from backtrace() (made safe by the warm-up below).
  write("idem: fatal signal ");
  write(::strsignal(signal));
  write("; call stack (addr2line -e <binary> <offset> resolves the +0x... offsets):\n");
  void* frames[kMaxFrames];
  const int count = ::backtrace(frames, kMaxFrames);
  ::backtrace_symbols_fd(frames, count, STDERR_FILENO);
  ::signal(signal, SIG_DFL);  // then die of it, as without this handler
  ::raise(signal);
}

}  // namespace

void reportFatalSignals() {
#ifdef __SANITIZE_ADDRESS__
  return;  // AddressSanitizer's own report on these signals says more
#endif
  // backtrace() loads libgcc on its first call, which allocates: do that now, not in a handler.
  void* warm[1];
  ::backtrace(warm, 1);
  struct sigaction action {};
  action.sa_handler = onFatalSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND | SA_NODEFER;
  for (int signal : kSignals) ::sigaction(signal, &action, nullptr);
}

}  // namespace idem::tools
