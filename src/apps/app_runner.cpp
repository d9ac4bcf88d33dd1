#include "apps/app_runner.h"

#include <c10/util/Exception.h>

#include <iostream>
#include <memory>

#include "frost/comm/communicator.h"
#include "frost/comm/process.h"

namespace frost::apps {

Error describe_exception(const std::exception& e) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&e)) {
    return Error(torch_error->what_without_backtrace());
  }
  return to_error(e);
}

namespace {

// Note [Failing the whole job]: report on this rank, then end every rank.
[[noreturn]] void fail_job(const std::string& program, Error error, int rank) {
  error.set_rank(rank >= 0 ? rank : comm::process_rank());
  print_error_line(program, error);
  comm::abort_job(1);
}

}  // namespace

int run_mpi_program(const MpiProgram& program, int argc, char** argv) {
  int rank = -1;  // known once the communicator exists
  // A failure a communicator finds on its own thread (the NCCL watchdog) ends the job the same
  // way (Note [Fatal errors off the main thread] in comm/process.h).
  comm::set_fatal_error_handler(
      [name = program.name](const Error& error) { fail_job(name, error, -1); });
  try {
    comm::init_mpi(&argc, &argv);
    std::unique_ptr<comm::Communicator> comm = comm::make_communicator(program.backend);
    rank = comm->rank();

    std::optional<std::string> help;
    std::optional<Error> bad_command_line;
    try {
      help = program.parse(argc, argv, *comm);
    } catch (const Error& e) {
      bad_command_line = e;
    }
    int status = 0;
    const int failed_ranks = comm::agree_on_startup_error(*comm, bad_command_line.has_value());
    if (failed_ranks > 0) {
      // Every rank failed: the same command line, the same message; rank 0 says it once.
      const bool every_rank = failed_ranks == comm->world_size();
      if (bad_command_line && !every_rank) bad_command_line->set_rank(rank);
      if (bad_command_line && (rank == 0 || !every_rank)) {
        print_error_line(program.name, *bad_command_line);
      }
      status = 2;
    } else if (help) {
      if (rank == 0) std::cout << *help << std::flush;
    } else {
      status = program.run(*comm);
    }
    comm.reset();
    comm::set_fatal_error_handler(nullptr);
    comm::finalize_mpi();
    return status;
  } catch (const std::exception& e) {
    fail_job(program.name, describe_exception(e), rank);
  } catch (...) {
    fail_job(program.name, Error("an exception that is not a std::exception"), rank);
  }
}

}  // namespace frost::apps
