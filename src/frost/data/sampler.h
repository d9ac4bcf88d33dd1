// Which sample indices each rank reads, step by step. No LibTorch, no MPI: the samplers are
// pure functions of their arguments, so every rank computes its own share without talking
// to the others, and a resumed job recomputes exactly the order it would have seen.
//
// Note [Train sampling contract]
// ------------------------------
// N = num_samples, W = world_size, r = rank, B = per-rank batch size, G = W*B (global batch).
//  1. Epoch e uses a permutation P_e of [0, N):
//       shuffle = false: the identity.
//       shuffle = true:  Fisher-Yates (Durstenfeld, i = N-1 down to 1, swap P[i] with P[j],
//                        j uniform in [0, i]) driven by std::mt19937_64 seeded with
//                        std::seed_seq{seed_lo, seed_hi, epoch_lo, epoch_hi} (the 32-bit halves
//                        of seed and e). j is drawn by rejection sampling on the raw 64-bit
//                        output (no std::shuffle / std::uniform_int_distribution, whose results
//                        differ between standard libraries), so the order is the same
//                        everywhere for the same (N, seed, e).
//  2. Only the first M = W*floor(N/W) entries of P_e are used; the N-M < W others are dropped
//     for this epoch (dropped_per_epoch()), so that every rank gets the same number of samples.
//  3. Global batch k is P_e[k*G : min((k+1)*G, M)]. The last one may be short; its size is
//     still a multiple of W because M is. With drop_last it is dropped instead.
//  4. Rank r's batch k is the r-th of W equal contiguous pieces of global batch k.
// Consequences (each is tested): every rank has the same steps_per_epoch() and the same batch
// size at every step (so every rank issues the same collectives, DESIGN invariant 2); the ranks'
// indices are disjoint within an epoch and their union is P_e[0:M]; W ranks with batch B see at
// step k exactly the samples, in the same order, that 1 rank with batch W*B sees (DESIGN
// invariant 4) whenever N is a multiple of W (otherwise the W-rank run also drops N-M samples,
// which 1 rank would use in its last step).
//
// Note [Eval sampling contract]
// -----------------------------
// Rank r scores the contiguous range [r*N/W, (r+1)*N/W) (integer division, as written). The
// ranges are disjoint and cover [0, N) exactly once; sizes differ by at most one and some may
// be empty. Nothing is padded or repeated, so metrics summed over ranks are exact (DESIGN
// invariant 5). Eval issues no per-batch collectives, so unequal batch counts are fine.
#pragma once

#include <cstdint>
#include <vector>

namespace frost::data {

/// Training sampler; see Note [Train sampling contract]. Immutable after construction, so
/// any thread may call its const methods concurrently.
class TrainSampler {
 public:
  /// num_samples: N >= world_size. world_size: W >= 1. rank: 0 <= rank < W.
  /// batch_size: per-rank batch size B >= 1. seed: the shuffle seed (same on every rank).
  /// shuffle: permute each epoch, else identity order. drop_last: drop a short last global batch.
  /// Throws frost::Error on a bad argument, and when no step would run (N < W, or drop_last
  /// with M < W*B), naming the numbers and what to change.
  TrainSampler(int64_t num_samples, int world_size, int rank, int64_t batch_size, uint64_t seed,
               bool shuffle, bool drop_last);

  /// Optimizer steps per epoch; the same on every rank: floor(M/G) with drop_last, else ceil(M/G).
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  /// N - M: samples not seen in an epoch (which ones changes with the epoch when shuffling).
  int64_t dropped_per_epoch() const { return num_samples_ - used_per_epoch_; }
  /// M: samples used per epoch over all ranks.
  int64_t used_per_epoch() const { return used_per_epoch_; }
  /// Samples this rank reads per epoch: (M, or the part of it in full global batches) / W.
  int64_t samples_per_rank() const;

  /// P_e, the full permutation of [0, N) for `epoch` (>= 0). Same on every rank.
  /// Throws frost::Error for a negative epoch.
  std::vector<int64_t> epoch_permutation(int64_t epoch) const;

  /// This rank's batches for `epoch` (>= 0), in step order: steps_per_epoch() vectors of global
  /// sample indices in [0, N); batch k has (size of global batch k) / W entries.
  /// Throws frost::Error for a negative epoch.
  std::vector<std::vector<int64_t>> epoch_batches(int64_t epoch) const;

  int64_t num_samples() const { return num_samples_; }
  int world_size() const { return world_size_; }
  int rank() const { return rank_; }
  int64_t batch_size() const { return batch_size_; }
  int64_t global_batch_size() const { return batch_size_ * world_size_; }
  uint64_t seed() const { return seed_; }
  bool shuffle() const { return shuffle_; }
  bool drop_last() const { return drop_last_; }

 private:
  int64_t num_samples_;
  int world_size_;
  int rank_;
  int64_t batch_size_;
  uint64_t seed_;
  bool shuffle_;
  bool drop_last_;
  int64_t used_per_epoch_;  // M
  int64_t steps_per_epoch_;
};

/// Evaluation sampler; see Note [Eval sampling contract]. Immutable after construction.
class EvalSampler {
 public:
  /// num_samples: N >= 0. world_size: W >= 1. rank: 0 <= rank < W. batch_size >= 1.
  /// Throws frost::Error on a bad argument.
  EvalSampler(int64_t num_samples, int world_size, int rank, int64_t batch_size);

  /// First global index of this rank's range: rank*N/W.
  int64_t begin() const { return begin_; }
  /// One past the last global index of this rank's range: (rank+1)*N/W.
  int64_t end() const { return end_; }
  /// end() - begin() (may be 0).
  int64_t size() const { return end_ - begin_; }
  /// This rank's range in order, split into batches of batch_size (the last may be short);
  /// ceil(size()/batch_size) batches, none if the range is empty.
  std::vector<std::vector<int64_t>> batches() const;

 private:
  int64_t begin_;
  int64_t end_;
  int64_t batch_size_;
};

}  // namespace frost::data
