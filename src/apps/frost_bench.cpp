// frost-bench: benchmarks of the two paths a training step depends on besides compute.
//
//   launch/frost-mpirun -np 2 build/frost-bench allreduce [--min-bytes 8] [--max-bytes 64M]
//       [--step-factor 2] [--iters 20] [--warmup 5] [--dtype float32|float64] [--csv FILE]
//       [--check true]
//   build/frost-bench loader --data FILE [--data FILE ...] [--batch-size 64] [--prefetch 2]
//       [--ranks 1] [--rank R] [--epochs 1] [--steps 0] [--repeats 3] [--seed 0] [--csv FILE]
//       [--chunk-cache-mb 512] [--direct-reads true]
//
// allreduce (bench_allreduce.cpp): collective benchmarks over frost::comm, in the style of
// nccl-tests, under mpirun. loader (bench_loader.cpp): samples/s of the HDF5 data path, one
// process without MPI. Both parse their options with one parser (bench_options.h) and report
// errors through the app runner's one error line (app_error.h, Note [Error line]).
#include <cstring>

#include "apps/bench.h"

int main(int argc, char** argv) {
  // The loader benchmark is one plain process: it must not start MPI.
  if (argc >= 2 && std::strcmp(argv[1], "loader") == 0) {
    return frost::bench::loader_main(argc, argv);
  }
  return frost::bench::allreduce_main(argc, argv);
}
