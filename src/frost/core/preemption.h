// Preemption: a scheduler asks a running job to stop (Slurm's `--signal=B:USR1@120`, its
// SIGTERM at the time limit or at preemption), and the job stops at the next step boundary with
// a checkpoint, so that a requeued job continues from there bit for bit. This header is the
// signal side of it; the Trainer's side is Note [Preemption] in src/frost/train/trainer.cpp, the
// user's side docs/reliability.md ("Preemption and requeue").
//
// Note [Preemption signals]
// SIGUSR1 and SIGTERM request the stop. The handler (installed by install_preemption_handlers)
// does only what is async-signal-safe: it records the first signal in a lock-free atomic int
// (C++17 [support.signal]: lock-free atomic operations may be used in a signal handler) and,
// for the first signal only, write(2)s one line prepared beforehand
//     frost-train: [rank 1] received SIGUSR1: stopping at the next step boundary, after a checkpoint
// to stderr (one write of less than PIPE_BUF bytes, so it is not torn by other output). Nothing
// else happens in the handler: no allocation, no lock, no logging library, no MPI. The training
// loop reads the request at every step boundary and all ranks agree on it there (one all-reduce),
// so ranks that got the signal and ranks that did not stop at the same step.
//  * Later signals (a second SIGTERM during the checkpoint write, a flood of them) change
//    nothing: the request is already recorded, the write goes on (SA_RESTART, and fs's writes
//    retry on EINTR). A job that must end at once is ended with SIGINT or SIGKILL, which keep
//    their default actions (a kill during the checkpoint write leaves the previous checkpoint:
//    the write is atomic).
//  * The handler is process-wide; any thread may run it (the MPI progress thread, a loader
//    thread), which is fine for a store to an atomic.
//  * A signal that arrives before the handlers are installed (during the process's start-up,
//    before main) has its default action: the process ends. frost-train installs them first
//    thing in main, before MPI starts.
#pragma once

#include <atomic>

namespace frost {

static_assert(ATOMIC_INT_LOCK_FREE == 2,
              "the preemption flag must be a lock-free atomic to be set in a signal handler");

/// Exit status of a job that stopped for preemption after writing its checkpoint: 75, EX_TEMPFAIL
/// of BSD's sysexits.h ("a temporary failure ... the user is invited to retry"), which no other
/// path of Frost returns (1: error, 2: bad command line). mpirun and launch/frost-mpirun pass it on.
inline constexpr int kPreemptedExitStatus = 75;

/// Installs the handler of Note [Preemption signals] for SIGUSR1 and SIGTERM (sigaction with
/// SA_RESTART), keeping the previous dispositions for uninstall_preemption_handlers. Idempotent.
/// `program` names the process in the handler's line ("frost-train"); the rank is added once
/// set_preemption_rank is called. Call from one thread, before the request is read.
/// Throws frost::Error when sigaction fails.
void install_preemption_handlers(const char* program);

/// The rank for the handler's line ("[rank R]"); -1 leaves it out. Not async-signal-safe: call
/// from normal code (a signal that arrives meanwhile writes a line without the rank, or none).
void set_preemption_rank(int rank);

/// Restores the dispositions that install_preemption_handlers replaced (tests). Idempotent.
void uninstall_preemption_handlers();

/// The first preemption signal received since start-up or the last clear (SIGUSR1 or SIGTERM),
/// 0 when none. Any thread; lock-free.
int preemption_signal();

/// Preemption signals received since start-up or the last clear, the first included.
int preemption_signal_count();

/// Forgets the request and the count (tests, and a program that acted on it).
void clear_preemption_request();

/// "SIGUSR1", "SIGTERM", else "signal N".
const char* preemption_signal_name(int signal);

}  // namespace frost
