// The process layer of a Frost job: starting and ending MPI, this process's rank before any
// communicator exists, ending the whole job, and agreeing on a start-up error.
//
// Every backend's job is an MPI job: mpirun (or srun) starts the ranks, and a GPU backend
// bootstraps over MPI (NCCL: an MPI broadcast of the ncclUniqueId). So this layer is MPI
// whatever the communicator's backend; it lives beside the backends, not in comm/mpi/.
// Programs use it through the app runner (src/apps/app_runner.h). No MPI header here.
#pragma once

#include <functional>

#include "frost/core/error.h"

namespace frost::comm {

class Communicator;

/// Initialises MPI with MPI_THREAD_MULTIPLE (the MPI backend runs collectives on its own
/// progress thread) and sets MPI_ERRORS_RETURN on MPI_COMM_WORLD, so that MPI errors become
/// frost::Error (MPI_CHECK) instead of aborting inside the library. Idempotent. Throws
/// frost::Error when the library gives less than MPI_THREAD_MULTIPLE.
void init_mpi(int* argc, char*** argv);

/// Finalizes MPI if this process initialised it and it is not finalized yet. Every communicator
/// must be destroyed before. Fault-injection site "finalize" (src/frost/core/fault_injection.h),
/// so it may throw frost::Error.
void finalize_mpi();

/// This process's rank in the job, for messages written before a communicator exists or after
/// it is gone: MPI_COMM_WORLD's rank while MPI is initialised, else the launcher's
/// OMPI_COMM_WORLD_RANK, PMI_RANK or SLURM_PROCID, else 0. Any thread.
int process_rank();

/// Collective over `comm`: every rank says whether its start-up failed (e.g. a bad command
/// line); returns the number of ranks that failed (one all-reduce). Lets a job whose ranks all
/// reject the same command line end cleanly, with one message, instead of through abort_job;
/// the caller decides who reports what (src/apps/app_runner.cpp).
int agree_on_startup_error(Communicator& comm, bool failed);

/// Ends every rank of the job now (MPI_Abort on MPI_COMM_WORLD, which makes mpirun end the
/// others), or this process alone when MPI is not running. Never returns.
[[noreturn]] void abort_job(int exit_code);

// Note [Fatal errors off the main thread]
// A failure that a communicator finds on its own background thread cannot be thrown to anyone:
// the NCCL watchdog (comm/nccl/nccl_communicator.h) sees a collective that never completes, or
// an asynchronous NCCL error, while the threads that issued the collective have long returned
// (a stream-ordered wait() does not block). It aborts its communicator and hands the error to
// report_fatal_error, which must end the job as the app runner ends it for an exception (Note
// [Failing the whole job] in src/apps/app_runner.h). comm does not depend on apps, so the runner
// installs the way it reports (the error line of Note [Error line]) with
// set_fatal_error_handler; without a handler, report_fatal_error writes error.what() on stderr
// and calls abort_job(1).

/// What report_fatal_error calls. It normally ends the job and does not return; when it returns
/// (tests), the communicator that reported stays failed: its later calls throw the same error.
using FatalErrorHandler = std::function<void(const Error& error)>;

/// Installs `handler` for report_fatal_error (an empty one restores the default). Any thread.
void set_fatal_error_handler(FatalErrorHandler handler);

/// Reports `error`, found on a background thread, as the error that ends the job (Note [Fatal
/// errors off the main thread]): calls the installed handler, or by default writes
/// "<error.what()>" on stderr and calls abort_job(1). Returns only when a handler returned.
/// Any thread; one report at a time.
void report_fatal_error(const Error& error);

}  // namespace frost::comm
