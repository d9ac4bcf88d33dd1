#include "frost/data/sampler.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>
#include <utility>

#include "frost/core/error.h"

namespace frost::data {
namespace {

// Uniform integer in [0, bound), bound >= 1, from the raw 64-bit output of `rng`, unbiased.
// Rejection: values below 2^64 mod bound are redrawn, so the accepted range
// [2^64 mod bound, 2^64) holds a whole number of copies of every residue (the method of
// OpenBSD's arc4random_uniform). Specified here, unlike std::uniform_int_distribution, so
// every standard library produces the same permutation.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;  // == 2^64 mod bound
  for (;;) {
    const uint64_t x = rng();
    if (x >= threshold) return x % bound;
  }
}

void check_common(int world_size, int rank, int64_t batch_size, const char* what) {
  FROST_CHECK(world_size >= 1, what, ": world size must be >= 1, got ", world_size);
  FROST_CHECK(rank >= 0 && rank < world_size, what, ": rank ", rank, " is outside [0, ", world_size,
              ") (world size ", world_size, ")");
  FROST_CHECK(batch_size >= 1, what, ": batch size must be >= 1, got ", batch_size);
}

}  // namespace

// ---- TrainSampler ----------------------------------------------------------------------

TrainSampler::TrainSampler(int64_t num_samples, int world_size, int rank, int64_t batch_size,
                           uint64_t seed, bool shuffle, bool drop_last)
    : num_samples_(num_samples),
      world_size_(world_size),
      rank_(rank),
      batch_size_(batch_size),
      seed_(seed),
      shuffle_(shuffle),
      drop_last_(drop_last) {
  check_common(world_size, rank, batch_size, "TrainSampler");
  FROST_CHECK(batch_size <= std::numeric_limits<int64_t>::max() / world_size,
              "TrainSampler: batch size ", batch_size, " x world size ", world_size,
              " overflows int64");
  FROST_CHECK(num_samples >= world_size, "TrainSampler: the training set has ", num_samples,
              " samples but the world size is ", world_size,
              ", so some rank would get no sample; use fewer ranks or more data");
  used_per_epoch_ = (num_samples / world_size) * world_size;
  const int64_t global_batch = batch_size * world_size;
  steps_per_epoch_ = drop_last ? used_per_epoch_ / global_batch
                               : (used_per_epoch_ + global_batch - 1) / global_batch;
  FROST_CHECK(steps_per_epoch_ >= 1, "TrainSampler: drop_last is set and the global batch (",
              batch_size, " per rank x ", world_size, " ranks = ", global_batch,
              ") is larger than the ", used_per_epoch_,
              " usable samples per epoch, so no step would run; lower the batch size or "
              "turn off drop_last");
}

int64_t TrainSampler::samples_per_rank() const {
  const int64_t global_batch = batch_size_ * world_size_;
  const int64_t used = drop_last_ ? steps_per_epoch_ * global_batch : used_per_epoch_;
  return used / world_size_;
}

std::vector<int64_t> TrainSampler::epoch_permutation(int64_t epoch) const {
  FROST_CHECK(epoch >= 0, "TrainSampler: epoch must be >= 0, got ", epoch);
  std::vector<int64_t> perm(static_cast<size_t>(num_samples_));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  if (!shuffle_) return perm;

  const auto e = static_cast<uint64_t>(epoch);
  std::seed_seq seq{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32),
                    static_cast<uint32_t>(e), static_cast<uint32_t>(e >> 32)};
  std::mt19937_64 rng(seq);
  for (int64_t i = num_samples_ - 1; i >= 1; --i) {
    const auto j = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(i) + 1));
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
  }
  return perm;
}

std::vector<std::vector<int64_t>> TrainSampler::epoch_batches(int64_t epoch) const {
  const std::vector<int64_t> perm = epoch_permutation(epoch);
  const int64_t global_batch = batch_size_ * world_size_;
  std::vector<std::vector<int64_t>> batches;
  batches.reserve(static_cast<size_t>(steps_per_epoch_));
  for (int64_t k = 0; k < steps_per_epoch_; ++k) {
    const int64_t start = k * global_batch;
    const int64_t global_size = std::min(global_batch, used_per_epoch_ - start);
    FROST_ASSERT(global_size > 0 && global_size % world_size_ == 0, "global batch ", k, " has ",
                 global_size, " samples for world size ", world_size_);
    const int64_t piece = global_size / world_size_;
    const auto first = perm.begin() + start + rank_ * piece;
    batches.emplace_back(first, first + piece);
  }
  return batches;
}

// ---- EvalSampler -----------------------------------------------------------------------

EvalSampler::EvalSampler(int64_t num_samples, int world_size, int rank, int64_t batch_size)
    : batch_size_(batch_size) {
  check_common(world_size, rank, batch_size, "EvalSampler");
  FROST_CHECK(num_samples >= 0, "EvalSampler: number of samples must be >= 0, got ", num_samples);
  FROST_CHECK(num_samples <= std::numeric_limits<int64_t>::max() / world_size,
              "EvalSampler: ", num_samples, " samples x world size ", world_size,
              " overflows int64");
  begin_ = int64_t{rank} * num_samples / world_size;
  end_ = (int64_t{rank} + 1) * num_samples / world_size;
}

std::vector<std::vector<int64_t>> EvalSampler::batches() const {
  std::vector<std::vector<int64_t>> out;
  for (int64_t start = begin_; start < end_; start += batch_size_) {
    const int64_t stop = std::min(end_, start + batch_size_);
    std::vector<int64_t> b(static_cast<size_t>(stop - start));
    std::iota(b.begin(), b.end(), start);
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace frost::data
