// The app runner: how every MPI program of Frost (frost-train, frost-bench allreduce) starts,
// ends and fails. A program gives its command-line parser and its body; run_mpi_program does
// the rest, in this order, on every rank:
//
//   1. MPI (init_mpi) and the world communicator of the program's backend (make_communicator);
//   2. parse: every rank parses the command line. When any rank rejects it, the ranks agree on
//      that with one all-reduce (agree_on_startup_error), the error is reported once (Note
//      [Error line]: by rank 0 without a rank when every rank failed, else by each failing rank
//      with its rank) and the job ends with exit status 2, cleanly, without an abort;
//   3. --help: rank 0 prints the help text; exit status 0;
//   4. run: the program's body; its return value is the exit status;
//   5. the communicator is destroyed and MPI finalized.
//
// Note [Failing the whole job]
// Any exception on any rank, in any of these steps, is reported by that rank with its rank
// (Note [Error line]) and ends the whole job through abort_job (MPI_Abort), so that no peer
// waits forever in a collective (DESIGN invariant 8); mpirun then exits non-zero. Peers blocked
// in a collective when a rank dies without aborting (killed, node lost) are released by the
// collective timeout (dist.timeout_s) and abort in turn. Library code never ends the process
// itself; it throws, and the runner is the one place that ends it. A failure found on a
// communicator's own thread (the NCCL watchdog), which has nobody to throw to, reaches the same
// path through the handler the runner installs (Note [Fatal errors off the main thread] in
// src/frost/comm/process.h).
#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <string>

#include "apps/app_error.h"

namespace frost::comm {
class Communicator;
}

namespace frost::apps {

/// An MPI program as run_mpi_program runs it.
struct MpiProgram {
  /// The program's name in error lines: "frost-train".
  std::string name;
  /// The communicator backend (make_communicator).
  std::string backend = "mpi";
  /// Parses and checks the command line (argv as MPI left it). Runs on every rank before the
  /// program's first collective; may read the communicator's rank, world size and host but
  /// must issue no collective. Returns the --help text when help was asked for, else nullopt.
  /// Throws frost::Error for a bad command line (exit status 2); any other exception fails the
  /// job (Note [Failing the whole job]).
  std::function<std::optional<std::string>(int argc, char** argv, comm::Communicator& comm)> parse;
  /// The program's body, after every rank accepted the command line. Returns the exit status.
  std::function<int(comm::Communicator& comm)> run;
};

/// Runs `program` (steps 1-5 above) and returns the exit status of this rank; does not return
/// after an exception (Note [Failing the whole job]). Call it from main with main's arguments.
int run_mpi_program(const MpiProgram& program, int argc, char** argv);

/// The error to report for an exception that escaped a program linking LibTorch: a c10::Error
/// by what_without_backtrace() (its C++ backtrace means nothing to a user), otherwise as
/// to_error. For run_program.
Error describe_exception(const std::exception& e);

}  // namespace frost::apps
