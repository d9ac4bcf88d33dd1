#include "frost/data/sampler.h"

#include <algorithm>
#include <initializer_list>
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

// Fisher-Yates over v[first, last) (Note [Train sampling contract] 1) driven by a generator
// seeded with `seeds`.
void fisher_yates(std::vector<int64_t>& v, size_t first, size_t last,
                  std::initializer_list<uint32_t> seeds) {
  if (last - first < 2) return;
  std::seed_seq seq(seeds);
  std::mt19937_64 rng(seq);
  for (size_t i = last - first - 1; i >= 1; --i) {
    const auto j = static_cast<size_t>(uniform_below(rng, static_cast<uint64_t>(i) + 1));
    std::swap(v[first + i], v[first + j]);
  }
}

uint32_t lo(uint64_t v) { return static_cast<uint32_t>(v); }
uint32_t hi(uint64_t v) { return static_cast<uint32_t>(v >> 32); }

constexpr uint32_t kBlockTag = 0x626c6f63;   // "bloc"
constexpr uint32_t kWindowTag = 0x77696e64;  // "wind"

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

TrainSampler::TrainSampler(int64_t num_samples, int world_size, int rank, int64_t batch_size,
                           uint64_t seed, bool drop_last, BlockLayout blocks)
    : TrainSampler(num_samples, world_size, rank, batch_size, seed, /*shuffle=*/true, drop_last) {
  FROST_CHECK(!blocks.block_ends.empty() && blocks.block_ends.back() == num_samples,
              "TrainSampler: the block layout must end at the ", num_samples,
              " samples of the training set, but its last block ends at ",
              blocks.block_ends.empty() ? 0 : blocks.block_ends.back());
  int64_t prev = 0;
  for (size_t i = 0; i < blocks.block_ends.size(); ++i) {
    FROST_CHECK(blocks.block_ends[i] > prev, "TrainSampler: block ", i, " of the layout is empty ",
                "or out of order (ends at ", blocks.block_ends[i], " after ", prev, ")");
    prev = blocks.block_ends[i];
  }
  FROST_CHECK(blocks.window >= 1, "TrainSampler: the shuffle window must be >= 1 row, got ",
              blocks.window);
  block_ends_ = std::move(blocks.block_ends);
  window_ = std::max<int64_t>(blocks.window / batch_size, 1) * batch_size;
}

int64_t block_shuffle_window(int64_t budget_bytes, int64_t decoded_row_bytes,
                             int64_t max_block_rows) {
  FROST_CHECK(budget_bytes >= 0 && decoded_row_bytes >= 1 && max_block_rows >= 1,
              "block_shuffle_window: bad arguments (budget ", budget_bytes, " B, ",
              decoded_row_bytes, " B per row, ", max_block_rows, " rows per block)");
  return std::max(budget_bytes / decoded_row_bytes - 2 * max_block_rows, max_block_rows);
}

std::vector<int64_t> TrainSampler::block_order(int64_t epoch) const {
  FROST_CHECK(block_shuffle(), "TrainSampler: block_order without a block layout");
  FROST_CHECK(epoch >= 0, "TrainSampler: epoch must be >= 0, got ", epoch);
  std::vector<int64_t> order(block_ends_.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  const auto e = static_cast<uint64_t>(epoch);
  fisher_yates(order, 0, order.size(), {lo(seed_), hi(seed_), lo(e), hi(e), kBlockTag});
  return order;
}

std::vector<int64_t> TrainSampler::block_part(int64_t epoch, int r) const {
  const std::vector<int64_t> order = block_order(epoch);
  const int64_t m = used_per_epoch_ / world_size_;
  const int64_t begin = int64_t{r} * m;  // position of the part in Q_e
  std::vector<int64_t> part;
  part.reserve(static_cast<size_t>(m));
  int64_t pos = 0;  // position in Q_e of the current block's first row
  for (size_t i = 0; i < order.size() && static_cast<int64_t>(part.size()) < m; ++i) {
    const auto b = static_cast<size_t>(order[i]);
    const int64_t first = b == 0 ? 0 : block_ends_[b - 1], rows = block_ends_[b] - first;
    if (pos + rows > begin) {
      const int64_t skip = std::max<int64_t>(begin - pos, 0);
      const int64_t take = std::min(rows - skip, m - static_cast<int64_t>(part.size()));
      for (int64_t k = 0; k < take; ++k) part.push_back(first + skip + k);
    }
    pos += rows;
  }
  FROST_ASSERT(static_cast<int64_t>(part.size()) == m, "block part of rank ", r, " has ",
               part.size(), " rows, expected ", m);
  const auto e = static_cast<uint64_t>(epoch);
  for (int64_t w = 0; w < m; w += window_) {
    const auto start = static_cast<uint64_t>(begin + w);
    fisher_yates(part, static_cast<size_t>(w), static_cast<size_t>(std::min(w + window_, m)),
                 {lo(seed_), hi(seed_), lo(e), hi(e), kWindowTag, lo(start), hi(start)});
  }
  return part;
}

int64_t TrainSampler::samples_per_rank() const {
  const int64_t global_batch = batch_size_ * world_size_;
  const int64_t used = drop_last_ ? steps_per_epoch_ * global_batch : used_per_epoch_;
  return used / world_size_;
}

std::vector<int64_t> TrainSampler::epoch_permutation(int64_t epoch) const {
  FROST_CHECK(epoch >= 0, "TrainSampler: epoch must be >= 0, got ", epoch);
  if (block_shuffle()) {
    std::vector<int64_t> perm;
    perm.reserve(static_cast<size_t>(num_samples_));
    for (int r = 0; r < world_size_; ++r) {
      const std::vector<int64_t> part = block_part(epoch, r);
      perm.insert(perm.end(), part.begin(), part.end());
    }
    // The dropped tail of Q_e: the rows no part took, in stream order.
    std::vector<bool> used(static_cast<size_t>(num_samples_), false);
    for (int64_t i : perm) used[static_cast<size_t>(i)] = true;
    for (int64_t b : block_order(epoch)) {
      const auto ub = static_cast<size_t>(b);
      for (int64_t i = ub == 0 ? 0 : block_ends_[ub - 1]; i < block_ends_[ub]; ++i)
        if (!used[static_cast<size_t>(i)]) perm.push_back(i);
    }
    return perm;
  }
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
  if (block_shuffle()) {  // Note [Block shuffle] 4
    FROST_CHECK(epoch >= 0, "TrainSampler: epoch must be >= 0, got ", epoch);
    const std::vector<int64_t> part = block_part(epoch, rank_);
    const auto m = static_cast<int64_t>(part.size());
    std::vector<std::vector<int64_t>> batches;
    batches.reserve(static_cast<size_t>(steps_per_epoch_));
    for (int64_t k = 0; k < steps_per_epoch_; ++k) {
      const int64_t start = k * batch_size_, stop = std::min(start + batch_size_, m);
      FROST_ASSERT(stop > start, "block batch ", k, " is empty");
      batches.emplace_back(part.begin() + start, part.begin() + stop);
    }
    return batches;
  }
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

// ---- another world size (Note [Another world size]) ------------------------------------

WorldSizeChange describe_world_size_change(const TrainSampler& now, int old_world_size,
                                           int64_t epoch, int64_t step_in_epoch) {
  using detail::str_cat;
  const int64_t g = now.global_batch_size(), n = now.num_samples();
  const int w_new = now.world_size(), w_old = old_world_size;
  FROST_CHECK(w_old >= 1 && g % w_old == 0 && n >= w_old, "describe_world_size_change: ",
              w_old, " ranks cannot have run the global batch ", g, " over ", n, " samples");
  FROST_CHECK(epoch >= 0 && step_in_epoch >= 0, "describe_world_size_change: bad position (epoch ",
              epoch, ", step ", step_in_epoch, ")");
  const int64_t m_old = (n / w_old) * w_old, m_new = now.used_per_epoch();
  const auto steps = [&](int64_t m) { return now.drop_last() ? m / g : (m + g - 1) / g; };
  const int64_t s_old = steps(m_old), s_new = now.steps_per_epoch();
  const auto last = [&](int64_t m, int64_t s) { return m - (s - 1) * g; };
  const std::string ranks = str_cat(w_new, " rank", w_new == 1 ? "" : "s", " instead of ", w_old);
  const std::string used =
      m_old == m_new ? std::string()
                     : str_cat("; ", w_new, " ranks use ", m_new, " of the ", n,
                               " samples per epoch where ", w_old, " used ", m_old);
  const std::string steps_changed =
      s_old == s_new ? std::string()
                     : str_cat("; steps per epoch ", s_old, " -> ", s_new,
                               ", so the run's total steps and the LR schedule's length change "
                               "from here on");
  WorldSizeChange c;
  if (now.block_shuffle()) {
    c.same_order = false;
    const int64_t e1 = epoch + 1;  // 1-based, as in the log
    c.text = str_cat(
        "data order changes (block shuffle: which rows form a step depends on the world size): ",
        step_in_epoch > 0
            ? str_cat("epochs from ", e1 + 1, " on are full passes in the order of ", ranks,
                      "; the rest of epoch ", e1, " (steps ", step_in_epoch + 1, "..", s_new,
                      ") takes that order's batches, so some of its samples are seen twice in it "
                      "and others not at all")
            : str_cat("epochs from ", e1, " on are full passes in the order of ", ranks),
        used, steps_changed);
    return c;
  }
  // With drop_last both run floor(N/G) full global batches (W and W' divide G): the same ones.
  if (now.drop_last() || m_old == m_new) {
    c.text = str_cat("data order kept: the same ", now.shuffle() ? "permutation" : "file order",
                     " and global batch of ", g, " samples at every step, dealt to ", ranks, used);
    return c;
  }
  c.same_order = false;
  c.text = str_cat("data order kept but for each epoch's last global batch, which holds ",
                   last(m_new, s_new), " samples instead of ", last(m_old, s_old), " (", w_new,
                   " ranks leave out the last ", n - m_new, " of each permutation, ", w_old,
                   " the last ", n - m_old, ")", steps_changed);
  return c;
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
