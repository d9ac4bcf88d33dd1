// NCCL_CHECK and CUDA_CHECK: how Frost calls an NCCL or CUDA runtime function whose failure it
// reports, in the form of MPI_CHECK (comm/mpi/mpi_check.h; one checking macro per C library,
// STYLE.md "Errors"). Include it only in comm/nccl/ sources: it brings in <nccl.h> and
// <cuda_runtime_api.h>, which no header of the CPU build may include.
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <string>

namespace frost::comm {

/// NCCL's text for `result` (ncclGetErrorString), followed by "; last NCCL error: <text>" when
/// ncclGetLastError(comm) has one (it may describe an earlier asynchronous failure; `comm` may
/// be null).
std::string nccl_error_text(ncclResult_t result, ncclComm_t comm = nullptr);

/// Throws the frost::Error of a failed NCCL call:
///   "[rank R] ncclAllReduce(...) failed at src/frost/comm/nccl/nccl_communicator.cpp:123 on
///    host h: unhandled system error (run with NCCL_DEBUG=INFO for details); last NCCL error:
///    ..."
/// R is process_rank() (comm/process.h), recorded with Error::set_rank.
[[noreturn]] void throw_nccl_error(ncclResult_t result, const char* call, const char* file,
                                   int line, ncclComm_t comm = nullptr);

/// Throws the frost::Error of a failed CUDA runtime call:
///   "[rank R] cudaEventRecord(...) failed at ...:57 on host h: cudaErrorIllegalAddress (an
///    illegal memory access was encountered)"
/// and clears CUDA's last (non-sticky) error, so that it is not reported again by a later call.
[[noreturn]] void throw_cuda_error(cudaError_t code, const char* call, const char* file, int line);

}  // namespace frost::comm

/// Calls `call` (an NCCL function) and throws frost::Error naming the call, file:line, the host,
/// the rank and NCCL's error string unless it returned ncclSuccess. On a non-blocking
/// communicator a call may return ncclInProgress, which this macro treats as a failure: such
/// calls go through the communicator's own check, which polls them (nccl_communicator.cpp).
#define NCCL_CHECK(call) NCCL_CHECK_COMM(call, nullptr)

/// NCCL_CHECK that also reports ncclGetLastError(nccl_comm).
#define NCCL_CHECK_COMM(call, nccl_comm)                                                       \
  do {                                                                                         \
    const ncclResult_t frost_nccl_rc_ = (call);                                                \
    if (frost_nccl_rc_ != ncclSuccess) {                                                       \
      ::frost::comm::throw_nccl_error(frost_nccl_rc_, #call, __FILE__, __LINE__, (nccl_comm)); \
    }                                                                                          \
  } while (0)

/// Calls `call` (a CUDA runtime function) and throws frost::Error naming the call, file:line, the
/// host, the rank and CUDA's error name and string unless it returned cudaSuccess.
#define CUDA_CHECK(call)                                                          \
  do {                                                                            \
    const cudaError_t frost_cuda_rc_ = (call);                                    \
    if (frost_cuda_rc_ != cudaSuccess) {                                          \
      ::frost::comm::throw_cuda_error(frost_cuda_rc_, #call, __FILE__, __LINE__); \
    }                                                                             \
  } while (0)
