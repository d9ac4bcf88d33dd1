// The process layer of a Frost job: starting and ending MPI, this process's rank before any
// communicator exists, ending the whole job, and agreeing on a start-up error.
//
// Every backend's job is an MPI job: mpirun (or srun) starts the ranks, and a GPU backend
// bootstraps over MPI (NCCL: an MPI broadcast of the ncclUniqueId). So this layer is MPI
// whatever the communicator's backend; it lives beside the backends, not in comm/mpi/.
// Programs use it through the app runner (src/apps/app_runner.h). No MPI header here.
#pragma once

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

}  // namespace frost::comm
