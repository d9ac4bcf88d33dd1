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
// Note [Block shuffle]
// --------------------
// A global permutation reads rows all over the file, which is free when rows come from memory
// (a mapped file, or compressed chunks that all fit the decode budget and are kept decoded) but
// ruinous for compressed files larger than the budget: every row read may decode a whole chunk.
// The block shuffle (TrainSampler constructed with a BlockLayout, data.shuffle_mode = block)
// orders an epoch so that each rank decodes each of its chunks once, holding at most one window
// of decoded rows. With the block ends of the layout (the chunk boundaries of every shard,
// in global row order, so chunks of every shard take part), the window S and the rest as above:
//  1. Epoch e permutes the BLOCKS: Fisher-Yates as in 1. above, seeded with
//     std::seed_seq{seed_lo, seed_hi, epoch_lo, epoch_hi, 0x626c6f63 ("bloc")}. Their rows, block
//     after block, each block in file order, form the epoch's stream Q_e of N rows.
//  2. m = M/W rows per rank; rank r takes Q_e[r*m : (r+1)*m) (the last N-M rows of Q_e are
//     dropped for this epoch). A rank therefore reads whole blocks except at most two cut at
//     the ends of its part; a block is read by at most two ranks.
//  3. Rank r cuts its part into windows of S rows (the last may be short) and shuffles each
//     window (Fisher-Yates as above, seeded with std::seed_seq{seed_lo, seed_hi, epoch_lo,
//     epoch_hi, 0x77696e64 ("wind"), start_lo, start_hi}, start = the window's first position
//     in Q_e). S is a multiple of the per-rank batch B (rounded down, at least B), so no batch
//     straddles two windows.
//  4. Rank r's batch k is rows [k*B, min((k+1)*B, m)) of its shuffled part; with drop_last a
//     short last batch is dropped.
// Which invariants hold (each is tested in tests/unit/data/test_sampler.cpp, resume also end to
// end in tests/e2e/test_block_shuffle.sh):
//  * Equal steps per rank and equal batch sizes at every step: steps_per_epoch() is the same
//    formula as for the global permutation (ceil(M/G), or floor with drop_last), every rank has
//    m rows. DESIGN invariant 2 holds.
//  * Every used sample once per epoch: the ranks' parts are disjoint and cover Q_e[0:M); the
//    N-M < W dropped rows are the tail of Q_e (which change with the epoch).
//  * Determinism and bitwise resume: everything is a pure function of (N, W, r, B, seed,
//    epoch, block ends, S); no state is carried between steps, so a job resumed at step k of
//    epoch e recomputes the same batches from step k on. S and the block ends come from the
//    file's chunking and the decode budget (data.chunk_cache_mb, data.shuffle_buffer): a resume
//    must keep those (and the file) to get the same order, as it must keep W (on another W the
//    order changes: Note [Another world size]).
//  * Independence from the world size: does NOT hold. The block order Q_e is the same for every
//    W, and so is the set of samples of an epoch when W divides N; but which rows form global
//    step k changes with W (W ranks read W distant parts of Q_e at once, 1 rank reads one part),
//    and so do the windows; W ranks with batch B do not see what 1 rank with batch W*B sees
//    (DESIGN invariant 4 holds only for the global permutation).
//  * Locality, the point of it all: while rank r is in window w, the rows it still needs lie in
//    the blocks that overlap w: at most S/min_block + 2 blocks, and every earlier block of its
//    part is finished, so a reader that drops a block after its last row (BatchLoader with
//    H5Dataset::releases_blocks()) decodes each block once per epoch and holds at most
//    (S + 2 * chunk_rows) rows' worth of decoded data.
// Randomness: within a window the order is uniform; across windows the block order is. A sample
// cannot move farther than its window, so the first batches of an epoch come from the first S
// rows of the part; S of tens of thousands of rows (a budget of 128 MiB of 3x32x32 images gives
// ~40k) mixes far more than one batch needs. The same design is known as a "block shuffle" or
// "shuffle buffer" in streaming readers (TensorFlow's shuffle buffer, WebDataset, MosaicML
// Streaming's py1b), here made a pure function so that resume needs no buffer state.
//
// Note [Another world size]
// --------------------------
// A run resumed on W' ranks from a checkpoint of W ranks keeps the global batch G (Note [Resuming
// on another world size] in train/checkpoint.h) and the position (epoch e, k optimizer steps done
// in it). What it then reads, compared with what the uninterrupted run on W ranks would have:
//  * Global permutation (and no shuffle, the identity): P_e depends on (N, seed, e) only, and
//    global batch j is P_e[j*G : (j+1)*G) cut at M = W*floor(N/W). When M' = W'*floor(N/W') = M
//    (e.g. both world sizes divide N), every global batch of every epoch is the same: the resumed
//    run trains step for step on the samples the W-rank run would have, each step's rows dealt
//    W' ways instead of W (rank r' takes the r'-th of W' contiguous pieces). With drop_last it
//    holds always: W and W' divide G, so both use the floor(N/G) full global batches of P_e.
//  * Global permutation with M' != M (without drop_last): the permutations are the same and so
//    are all global batches but each epoch's last: the W'-rank run leaves out the last N-M'
//    entries of P_e instead of the last N-M, so its last global batch holds M'-(S'-1)*G samples
//    instead of M-(S-1)*G, and the steps per epoch S' = ceil(M'/G) may differ from S by one
//    (N = 33, G = 8: 5 steps on 1 rank, 4 on 4 ranks). A different S changes the run's total
//    steps, so the LR schedule is stretched or shrunk to the new length from the resume on.
//  * Block shuffle: the order depends on the world size (Note [Block shuffle]); the block order
//    Q_e does not. From epoch e+1 on every epoch is a full pass over M' samples in the W'-rank
//    order, not the W-rank one. The rest of epoch e (its steps k+1..S') takes the W'-rank order's
//    batches from step k+1 on: when k > 0 some samples of epoch e are seen twice in it and others
//    not at all (which ones is a pure function of the arguments, so two resumes agree).
// describe_world_size_change gives the sentence rank 0 logs. Tests: test_sampler.cpp
// (TrainSampler.GlobalBatchesDoNotDependOnTheWorldSize, WorldSizeChange.*), and end to end
// tests/e2e/test_resume_world_size.sh.
//
// Note [Eval sampling contract]
// -----------------------------
// Rank r scores the contiguous range [r*N/W, (r+1)*N/W) (integer division, as written). The
// ranges are disjoint and cover [0, N) exactly once; sizes differ by at most one and some may
// be empty. Nothing is padded or repeated, so metrics summed over ranks are exact (DESIGN
// invariant 5). Eval issues no per-batch collectives, so unequal batch counts are fine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace frost::data {

/// How rows are grouped into blocks for the block shuffle (Note [Block shuffle]).
struct BlockLayout {
  /// Ascending global row ends of the blocks: block i holds rows [block_ends[i-1], block_ends[i])
  /// (block 0 starts at 0); the last entry is N. Typically the chunk boundaries of every shard
  /// (H5Dataset::block_ends()).
  std::vector<int64_t> block_ends;
  /// Rows per shuffle window S (>= 1); rounded down to a multiple of the per-rank batch size,
  /// at least one batch.
  int64_t window = 1;
};

/// The default window S of the block shuffle for a decode budget (Note [Block shuffle]):
/// budget_bytes / decoded_row_bytes - 2 * max_block_rows rows, so that the blocks overlapping
/// one window ((S + 2 * max_block_rows) rows at most) fit the budget; at least max_block_rows.
/// decoded_row_bytes, max_block_rows >= 1; budget_bytes >= 0. Throws frost::Error otherwise.
int64_t block_shuffle_window(int64_t budget_bytes, int64_t decoded_row_bytes,
                             int64_t max_block_rows);

/// Training sampler; see Note [Train sampling contract] and Note [Block shuffle]. Immutable
/// after construction, so any thread may call its const methods concurrently.
class TrainSampler {
 public:
  /// num_samples: N >= world_size. world_size: W >= 1. rank: 0 <= rank < W.
  /// batch_size: per-rank batch size B >= 1. seed: the shuffle seed (same on every rank).
  /// shuffle: permute each epoch, else identity order. drop_last: drop a short last global batch.
  /// Throws frost::Error on a bad argument, and when no step would run (N < W, or drop_last
  /// with M < W*B), naming the numbers and what to change.
  TrainSampler(int64_t num_samples, int world_size, int rank, int64_t batch_size, uint64_t seed,
               bool shuffle, bool drop_last);
  /// The block shuffle of Note [Block shuffle] (shuffle is implied): the same arguments, and
  /// `blocks` (ends ascending, each block non-empty, last == num_samples; window >= 1).
  /// Throws frost::Error as above and for a bad layout.
  TrainSampler(int64_t num_samples, int world_size, int rank, int64_t batch_size, uint64_t seed,
               bool drop_last, BlockLayout blocks);

  /// Optimizer steps per epoch; the same on every rank: floor(M/G) with drop_last, else ceil(M/G).
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  /// N - M: samples not seen in an epoch (which ones changes with the epoch when shuffling).
  int64_t dropped_per_epoch() const { return num_samples_ - used_per_epoch_; }
  /// M: samples used per epoch over all ranks.
  int64_t used_per_epoch() const { return used_per_epoch_; }
  /// Samples this rank reads per epoch: (M, or the part of it in full global batches) / W.
  int64_t samples_per_rank() const;

  /// P_e, the full permutation of [0, N) for `epoch` (>= 0). Same on every rank. Block shuffle:
  /// the rows of every rank's shuffled part in rank order (each rank's rows of the epoch, not
  /// cut into batches), then the dropped tail of Q_e.
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
  /// Constructed with a BlockLayout (Note [Block shuffle]).
  bool block_shuffle() const { return !block_ends_.empty(); }
  /// Block shuffle: the window S in rows after rounding (a multiple of batch_size()); else 0.
  int64_t window() const { return window_; }
  /// Block shuffle: the blocks of the layout in the order of epoch `epoch`'s stream Q_e (block
  /// numbers, 0-based). Throws frost::Error without a block layout or for a negative epoch.
  std::vector<int64_t> block_order(int64_t epoch) const;

 private:
  // Block shuffle: rank `r`'s m rows of `epoch`, windows shuffled (Note [Block shuffle] 1-3).
  std::vector<int64_t> block_part(int64_t epoch, int r) const;

  int64_t num_samples_;
  int world_size_;
  int rank_;
  int64_t batch_size_;
  uint64_t seed_;
  bool shuffle_;
  bool drop_last_;
  int64_t used_per_epoch_;  // M
  int64_t steps_per_epoch_;
  std::vector<int64_t> block_ends_;  // block shuffle only; empty otherwise
  int64_t window_ = 0;               // block shuffle only
};

/// What changes in the data order when a run of `old_world_size` ranks resumes on `now` (its
/// sampler on the new world size, with the same global batch) at step `step_in_epoch` (>= 0,
/// optimizer steps done) of `epoch` (>= 0), by Note [Another world size].
struct WorldSizeChange {
  bool same_order = true;  ///< every later step reads the global batch the old world size would
  std::string text;        ///< one or more sentences for the log, naming the numbers
};
/// Throws frost::Error when old_world_size < 1 or does not divide now's global batch.
WorldSizeChange describe_world_size_change(const TrainSampler& now, int old_world_size,
                                           int64_t epoch, int64_t step_in_epoch);

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
