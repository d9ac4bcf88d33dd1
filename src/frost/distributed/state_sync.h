// Replica set-up across ranks (DESIGN invariant 3): rank 0's parameters and buffers are
// broadcast to every rank, and a fingerprint of the effective config and of the model's
// parameter names/shapes is compared across ranks so that a rank started with a different
// config or model is named instead of silently training something else.
#pragma once

#include <cstdint>
#include <string>

namespace torch::nn {
class Module;
}
namespace frost::comm {
class Communicator;
}

namespace frost::distributed {

/// Broadcasts every parameter and buffer of `module` (named_parameters then named_buffers,
/// recursive, in registration order, so the same order on every rank) from `root`, in place.
/// Must be called by every rank on a module of the same structure (check with
/// check_same_across_ranks first). Throws frost::TimeoutError if a rank does not join.
void broadcast_state(torch::nn::Module& module, comm::Communicator& comm, int root = 0);

/// Broadcasts only the buffers (BatchNorm running statistics, ...) from `root`, in place.
/// In `full` fine-tuning each rank's BatchNorm sees its own micro-batch, so the running
/// statistics drift apart; Frost re-synchronises them from rank 0 before every evaluation and
/// before saving, as PyTorch DDP does with broadcast_buffers (from rank 0, each forward).
void broadcast_buffers(torch::nn::Module& module, comm::Communicator& comm, int root = 0);

/// "name shape dtype requires_grad" of every parameter and buffer, one per line.
std::string module_signature(torch::nn::Module& module);

/// 64-bit FNV-1a hash of `text` (Fowler-Noll-Vo, http://www.isthe.com/chongo/tech/comp/fnv/).
uint64_t fnv1a64(const std::string& text);

/// All-gathers fnv1a64(`text`) and throws frost::Error on every rank when any rank's hash
/// differs from rank 0's, naming those ranks and `what` ("config and model", ...). On a
/// mismatch rank 0's text is broadcast, and a differing rank's message adds its first
/// differing line with its INI section ("first difference: [optim] 'lr = 0.2' on rank 1,
/// 'lr = 0.1' on rank 0"). Collective; throws frost::TimeoutError if a rank does not join.
void check_same_across_ranks(const std::string& text, const std::string& what,
                             comm::Communicator& comm);

/// Digest of a module's parameter and buffer values (for tests and logs): one FNV-1a chain over
/// the raw bytes of every parameter, then every buffer, in registration order (recursive, as
/// broadcast_state walks them). Order-dependent: the same values in another tensor order give
/// another digest. Names, shapes and dtypes are not hashed (module_signature holds those).
uint64_t state_digest(torch::nn::Module& module);

}  // namespace frost::distributed
