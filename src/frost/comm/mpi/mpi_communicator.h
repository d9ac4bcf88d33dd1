// The MPI backend of the Communicator: CPU tensors, and CUDA tensors on any device, which it
// stages through pinned host buffers (Note [CUDA tensors on MPI] in mpi_communicator.cpp). Use
// it through make_communicator("mpi") (comm/communicator.h); this header holds what is
// particular to MPI. No MPI header is included here (mpi_check.h has the MPI-facing part), and
// no CUDA header anywhere in comm/mpi/: the staging uses LibTorch's device-generic API, so a
// build without CUDA has the same backend.
#pragma once

#include <cstdint>
#include <memory>

#include "frost/comm/communicator.h"

namespace frost::comm {

/// Largest piece, in bytes, that the MPI backend hands to one MPI_Iallreduce (16 MiB): a
/// larger all-reduce runs as consecutive pieces of at most this size, in order, under one Work.
/// Measured with `frost-bench allreduce` on OpenMPI 4.1 over shared memory: bus bandwidth
/// is 2.2 GB/s at 8-16 MiB and 0.9 GB/s at 32 MiB, where OpenMPI's per-call temporary buffer
/// passes glibc's largest mmap threshold (32 MiB, mallopt(3)) and is mapped and faulted in
/// afresh on every call (docs/benchmarks.md). The split also keeps every MPI count within int.
inline constexpr int64_t kMpiAllReduceChunkBytes = int64_t{16} << 20;

/// The MPI backend over a duplicate of MPI_COMM_WORLD (`world = true`) or of MPI_COMM_SELF (a
/// 1-rank communicator, the single-process reference of the tests). Collective over that
/// communicator (MPI_Comm_dup). MPI must be initialised (init_mpi in comm/process.h); throws
/// frost::Error otherwise, or when an MPI call fails (MPI_CHECK).
std::unique_ptr<Communicator> make_mpi_communicator(bool world = true);

}  // namespace frost::comm
