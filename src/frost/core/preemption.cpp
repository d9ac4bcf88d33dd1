#include "frost/core/preemption.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "frost/core/error.h"

namespace frost {

namespace {

constexpr int kSignals[] = {SIGUSR1, SIGTERM};
constexpr int kNumSignals = 2;

std::atomic<int> g_signal{0};  // the first request (0: none)
std::atomic<int> g_count{0};   // requests received

// The handler's line per signal, prepared outside the handler. A line is published by storing
// its length (release) after its bytes; the handler writes `length` bytes (acquire), so it never
// sees half a line. 0: no line.
constexpr size_t kLineCapacity = 256;
char g_line[kNumSignals][kLineCapacity];
std::atomic<size_t> g_line_length[kNumSignals];
std::string g_program = "frost";  // touched outside the handler only

bool g_installed = false;
struct sigaction g_previous[kNumSignals];

int slot_of(int signal) {
  for (int i = 0; i < kNumSignals; ++i)
    if (kSignals[i] == signal) return i;
  return -1;
}

void prepare_lines(int rank) {
  for (int i = 0; i < kNumSignals; ++i) {
    g_line_length[i].store(0, std::memory_order_release);  // a handler meanwhile writes nothing
    const std::string where = rank >= 0 ? " [rank " + std::to_string(rank) + "]" : "";
    const int n =
        std::snprintf(g_line[i], kLineCapacity,
                      "%s:%s received %s: stopping at the next step boundary, after a "
                      "checkpoint\n",
                      g_program.c_str(), where.c_str(), preemption_signal_name(kSignals[i]));
    const size_t length = n < 0 ? 0 : std::min(static_cast<size_t>(n), kLineCapacity - 1);
    g_line_length[i].store(length, std::memory_order_release);
  }
}

// Note [Preemption signals]: async-signal-safe only (atomics, write(2); errno kept).
extern "C" void on_preemption_signal(int signal) {
  const int saved_errno = errno;
  g_count.fetch_add(1, std::memory_order_relaxed);
  int none = 0;
  if (g_signal.compare_exchange_strong(none, signal)) {
    const int slot = slot_of(signal);
    const size_t length = slot < 0 ? 0 : g_line_length[slot].load(std::memory_order_acquire);
    if (length > 0) {
      const ssize_t written = ::write(STDERR_FILENO, g_line[slot], length);
      (void)written;  // nothing to do about a failed write in a handler
    }
  }
  errno = saved_errno;
}

}  // namespace

void install_preemption_handlers(const char* program) {
  if (g_installed) return;
  g_program = program != nullptr ? program : "frost";
  prepare_lines(-1);
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = on_preemption_signal;
  action.sa_flags = SA_RESTART;  // interrupted system calls go on (the checkpoint write)
  sigemptyset(&action.sa_mask);
  for (int s : kSignals) sigaddset(&action.sa_mask, s);  // one handler at a time
  for (int i = 0; i < kNumSignals; ++i) {
    if (::sigaction(kSignals[i], &action, &g_previous[i]) != 0) {
      const std::string why = std::strerror(errno);
      for (int j = 0; j < i; ++j) ::sigaction(kSignals[j], &g_previous[j], nullptr);
      throw Error(std::string("cannot install the handler of ") +
                  preemption_signal_name(kSignals[i]) + ": " + why);
    }
  }
  g_installed = true;
}

void set_preemption_rank(int rank) { prepare_lines(rank); }

void uninstall_preemption_handlers() {
  if (!g_installed) return;
  for (int i = 0; i < kNumSignals; ++i) ::sigaction(kSignals[i], &g_previous[i], nullptr);
  g_installed = false;
}

int preemption_signal() { return g_signal.load(); }

int preemption_signal_count() { return g_count.load(); }

void clear_preemption_request() {
  g_signal.store(0);
  g_count.store(0);
}

const char* preemption_signal_name(int signal) {
  switch (signal) {
    case SIGUSR1: return "SIGUSR1";
    case SIGTERM: return "SIGTERM";
    default: break;
  }
  static thread_local char name[32];
  std::snprintf(name, sizeof(name), "signal %d", signal);
  return name;
}

}  // namespace frost
