// The NCCL backend of the Communicator (CUDA tensors on this rank's GPU). Use it through
// make_communicator("nccl") (comm/communicator.h, which states the contract every backend
// keeps); this header holds what is particular to NCCL. It is compiled only with
// FROST_WITH_CUDA=ON, and includes no CUDA or NCCL header (nccl_check.h has the CUDA-facing
// part), so CPU code may include it.
//
// The pattern (one stream per communicator ordered after the caller's stream by events, tensors
// held by the work object until completion, a stream-side wait(), a watchdog thread that aborts
// the communicator) follows PyTorch's ProcessGroupNCCL (torch/csrc/distributed/c10d/
// ProcessGroupNCCL.cpp and NCCLUtils.cpp); the code is Frost's own.
//
// Devices. Each rank uses one CUDA device for the communicator's whole life: `device_index`
// when it is given, else the device place_rank (core/device.h, Note [Device per rank]) gives
// local_rank() (the rank among the processes of its node, MPI_COMM_TYPE_SHARED): cuda:<local
// rank>, or the one device a process sees. So a node runs at most as many ranks as it has
// visible devices; NCCL refuses two ranks of one communicator on the same GPU ("Duplicate GPU
// detected").
//
// Tensors. Every collective takes dense, contiguous CUDA tensors on that device, of dtype
// float32, float64, float16, bfloat16, int32, int64 or uint8, with the same shape and dtype on
// every rank; all_reduce (sum, max, min) and broadcast work in place, all_gather writes
// `output` [world_size * n] from `input` [n] in rank order. Element counts are not limited to
// int (NCCL counts are size_t). Anything else is a frost::Error when the collective is issued,
// on the issuing thread, naming the collective, and consumes no sequence number.
//
// Note [NCCL streams and events]
// Every collective runs on the communicator's own CUDA stream (one from c10's stream pool for
// the device, taken at construction), so collectives run in issue order (Note [Collective
// order] in comm/communicator.h). At issue, under the communicator's NCCL mutex:
//   1. an event is recorded on the caller's *current* stream and the communicator's stream waits
//      for it (cudaStreamWaitEvent: on the GPU, the host does not block), so the collective reads
//      what the caller's kernels wrote before the issue;
//   2. a start event, the NCCL call, and an end event go on the communicator's stream (the
//      events time the collective: Work::duration_s is cudaEventElapsedTime between them);
//   3. the Work holds the tensors, and so does the communicator's in-flight list, until the end
//      event has been reached, so the caching allocator cannot hand their memory to anyone while
//      NCCL still uses it (no recordStream needed).
// Work::wait() makes the caller's current stream wait for the end event and returns at once;
// is_completed() asks cudaEventQuery. A barrier (a one-element all-reduce of the
// communicator's own buffer, as NCCL has no barrier) is the one whose wait() blocks the host,
// polling its end event until it completes or the wait's timeout passes (TimeoutError).
//
// Note [NCCL watchdog]
// A stream-ordered wait() never blocks, so nothing on the caller's side notices a collective
// that never completes (a dead or stuck peer) or an asynchronous NCCL error (a network
// failure). Each communicator runs a watchdog thread that wakes every kNcclWatchdogPoll and
//   * asks ncclCommGetAsyncError (under the NCCL mutex: NCCL's calls on one communicator are not
//     thread-safe; a round in which an issue holds the mutex skips this check), and
//   * releases the in-flight collectives whose end event has been reached (in issue order) and
//     compares the oldest one still pending with the timeout that was in force when it was
//     issued (timeout(), config key dist.timeout_s): time since issue, including time queued
//     behind the caller's earlier work.
// On an error or a timeout it records the failure (every later issue and wait on this
// communicator throws it), aborts the communicator (ncclCommAbort, which ends its kernels so that
// the streams waiting on them drain), and hands the error to comm::report_fatal_error, which ends
// the job (Note [Fatal errors off the main thread] in comm/process.h): the app runner prints
//     frost-train: error: [rank 1] all_reduce(seq=42, bytes=68) waited 300012 ms without
//     completing (dist.timeout_s = 300): a peer rank died, hangs, or the network is down; the
//     NCCL watchdog aborted the communicator
// and calls MPI_Abort. ncclCommAbort can itself hang on a GPU that stopped responding; when it has
// not returned after kNcclAbortGrace, a guard thread reports the error anyway (PyTorch's
// heartbeat monitor plays this part).
// Start-up is bounded too: the communicator is non-blocking (ncclConfig_t.blocking = 0), so
// ncclCommInitRankConfig returns ncclInProgress at once and is polled with ncclCommGetAsyncError
// until `init_timeout`; an NCCL call at issue that returns ncclInProgress (connection set-up on
// first use) is polled until timeout() in the same way, on the issuing thread.
//
// Lifetime. The destructor stops the watchdog, waits on the host for the collectives still in
// flight (a stream-ordered wait() returns before they complete), each until its own deadline,
// then finalizes and destroys the NCCL communicator (ncclCommFinalize, polled until timeout()).
// It aborts it instead when a collective did not complete in time, the communicator had failed,
// or the finalize did not complete. A Work is not waited on after its communicator is gone (it
// reports its wait time to the communicator's stats).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "frost/comm/communicator.h"

namespace frost::comm {

/// How often the watchdog checks its communicator (Note [NCCL watchdog]).
inline constexpr std::chrono::milliseconds kNcclWatchdogPoll{100};
/// How long the watchdog lets ncclCommAbort run before it reports the failure anyway.
inline constexpr std::chrono::seconds kNcclAbortGrace{10};

/// The NCCL backend over the ranks of MPI_COMM_WORLD (`world = true`) or this process alone (a
/// 1-rank communicator), on CUDA device `device_index` (-1: place_rank's choice, see "Devices" above).
/// Collective over those ranks: rank 0 creates the ncclUniqueId and sends it with MPI_Bcast over
/// a duplicate of MPI_COMM_WORLD / MPI_COMM_SELF, then every rank initialises NCCL on its
/// device, bounded by `init_timeout`. MPI must be initialised (init_mpi in comm/process.h).
/// Throws (on every rank of the communicator: the ranks agree on a failed device choice first,
/// so none is left waiting for the others):
///   * frost::Error when a rank has no CUDA device it can use: no device or driver ("the NCCL
///     backend needs a CUDA device, but host h has none that CUDA can use (...)"), or a device
///     index at or above the number of visible devices (more ranks on a node than GPUs);
///   * frost::Error when an NCCL, CUDA or MPI call fails (NCCL_CHECK, CUDA_CHECK, MPI_CHECK);
///   * frost::TimeoutError when NCCL's initialisation has not completed after `init_timeout`
///     (a peer that died or cannot be reached); the half-made communicator is aborted.
/// The communicator's timeout() starts at 300 s; set_timeout (dist.timeout_s) bounds the
/// collectives issued after it.
std::unique_ptr<Communicator> make_nccl_communicator(
    bool world = true, int device_index = -1,
    std::chrono::milliseconds init_timeout = std::chrono::seconds(300));

/// The number of CUDA devices this process can use (cudaGetDeviceCount), 0 when there is none or
/// no usable driver; then `why`, if given, receives CUDA's reason. Any thread.
int visible_cuda_devices(std::string* why = nullptr);

}  // namespace frost::comm
