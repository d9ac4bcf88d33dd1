// The benchmarks of frost-bench, one file each; frost_bench.cpp picks one by its first argument.
#pragma once

namespace frost::bench {

/// `frost-bench allreduce ...` (bench_allreduce.cpp): an MPI program, run under mpirun through
/// the app runner. Returns the exit status: 0, 1 when the check found wrong elements, 2 for a
/// bad command line; a failed collective ends the job (Note [Failing the whole job]).
int allreduce_main(int argc, char** argv);

/// `frost-bench loader ...` (bench_loader.cpp): one plain process, no MPI. Returns the exit
/// status: 0, 1 on a failed read, 2 for a bad command line.
int loader_main(int argc, char** argv);

}  // namespace frost::bench
