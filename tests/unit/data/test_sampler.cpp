// TrainSampler / EvalSampler: the contract of Note [Train sampling contract] and
// Note [Eval sampling contract] in frost/data/sampler.h (TESTCASES F4, F5, F6).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/data/sampler.h"

namespace {

using frost::data::EvalSampler;
using frost::data::TrainSampler;
using Batches = std::vector<std::vector<int64_t>>;

struct Shape {
  int64_t n;
  int world;
  int64_t batch;
};

std::vector<TrainSampler> all_ranks(const Shape& s, uint64_t seed, bool shuffle,
                                    bool drop_last = false) {
  std::vector<TrainSampler> out;
  for (int r = 0; r < s.world; ++r) out.emplace_back(s.n, s.world, r, s.batch, seed, shuffle, drop_last);
  return out;
}

std::vector<int64_t> flatten(const Batches& b) {
  std::vector<int64_t> out;
  for (const auto& v : b) out.insert(out.end(), v.begin(), v.end());
  return out;
}

TEST(TrainSampler, RanksAreDisjointWithinEpoch) {
  // F6: 2 ranks, N=16, batch 4, shuffle, seed 123, 3 epochs.
  const auto ranks = all_ranks({16, 2, 4}, 123, true);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    std::set<int64_t> seen;
    size_t total = 0;
    for (const auto& s : ranks) {
      for (int64_t i : flatten(s.epoch_batches(epoch))) {
        EXPECT_TRUE(seen.insert(i).second) << "index " << i << " on two ranks, epoch " << epoch;
        ++total;
      }
    }
    EXPECT_EQ(total, 16u);
  }
}

TEST(TrainSampler, UnionOverRanksIsPermutationPrefix) {
  for (const Shape& s : {Shape{10, 3, 2}, Shape{7, 4, 1}, Shape{103, 4, 8}, Shape{16, 2, 4}}) {
    const auto ranks = all_ranks(s, 7, true);
    const int64_t m = s.world * (s.n / s.world);
    for (int64_t epoch = 0; epoch < 2; ++epoch) {
      const std::vector<int64_t> perm = ranks[0].epoch_permutation(epoch);
      std::vector<int64_t> expected(perm.begin(), perm.begin() + m);
      std::vector<int64_t> got;
      for (const auto& r : ranks) {
        const auto mine = flatten(r.epoch_batches(epoch));
        got.insert(got.end(), mine.begin(), mine.end());
      }
      std::sort(expected.begin(), expected.end());
      std::sort(got.begin(), got.end());
      EXPECT_EQ(got, expected) << "N=" << s.n << " W=" << s.world << " B=" << s.batch;
      EXPECT_EQ(ranks[0].dropped_per_epoch(), s.n - m);
    }
  }
}

TEST(TrainSampler, PermutationIsAPermutationOfAllSamples) {
  const TrainSampler s(1000, 1, 0, 10, 99, true, false);
  std::vector<int64_t> p = s.epoch_permutation(5);
  std::sort(p.begin(), p.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(p[static_cast<size_t>(i)], i);
}

TEST(TrainSampler, EpochsDiffer) {
  const TrainSampler s(16, 2, 0, 4, 123, true, false);
  EXPECT_NE(s.epoch_permutation(0), s.epoch_permutation(1));
  EXPECT_NE(s.epoch_permutation(1), s.epoch_permutation(2));
  EXPECT_NE(s.epoch_batches(0), s.epoch_batches(1));
}

TEST(TrainSampler, SameSeedReproducesAndResumeMatches) {
  const TrainSampler a(16, 2, 1, 4, 123, true, false);
  const TrainSampler b(16, 2, 1, 4, 123, true, false);
  for (int64_t epoch = 0; epoch < 3; ++epoch) EXPECT_EQ(a.epoch_batches(epoch), b.epoch_batches(epoch));
  // Resuming at epoch 2 needs no state from epochs 0-1: a fresh sampler gives the same order.
  const Batches first_run_epoch2 = a.epoch_batches(2);
  const TrainSampler resumed(16, 2, 1, 4, 123, true, false);
  EXPECT_EQ(resumed.epoch_batches(2), first_run_epoch2);
  const TrainSampler other_seed(16, 2, 1, 4, 124, true, false);
  EXPECT_NE(other_seed.epoch_permutation(0), a.epoch_permutation(0));
}

TEST(TrainSampler, PermutationIsPinned) {
  // The order is part of the contract (same on every standard library and every release):
  // a change here breaks reproducibility of existing runs and must be deliberate.
  const TrainSampler s(10, 1, 0, 1, 123, true, false);
  EXPECT_EQ(s.epoch_permutation(0), (std::vector<int64_t>{6, 9, 8, 1, 4, 0, 7, 5, 2, 3}));
  EXPECT_EQ(s.epoch_permutation(1), (std::vector<int64_t>{1, 0, 8, 3, 9, 6, 4, 5, 2, 7}));
}

TEST(TrainSampler, ShuffleIsRoughlyUniform) {
  // Over 6000 epochs with N=3 every position holds every value ~2000 times. A wrong draw range
  // fails this, e.g. j in [0, i) (Sattolo's cycle: no element ever stays in place).
  const TrainSampler s(3, 1, 0, 1, 5, true, false);
  int64_t counts[3][3] = {};
  for (int64_t e = 0; e < 6000; ++e) {
    const auto p = s.epoch_permutation(e);
    for (int pos = 0; pos < 3; ++pos) ++counts[pos][p[static_cast<size_t>(pos)]];
  }
  for (auto& row : counts)
    for (int64_t c : row) {
      EXPECT_GT(c, 1800);
      EXPECT_LT(c, 2200);
    }
}

TEST(TrainSampler, NoShuffleIsIdentityOrder) {
  const TrainSampler r0(10, 2, 0, 2, 1, false, false);
  const TrainSampler r1(10, 2, 1, 2, 1, false, false);
  EXPECT_EQ(r0.epoch_batches(3), (Batches{{0, 1}, {4, 5}, {8}}));
  EXPECT_EQ(r1.epoch_batches(3), (Batches{{2, 3}, {6, 7}, {9}}));
}

TEST(TrainSampler, EqualStepsOnEveryRank) {
  // F4: (N=10, W=3, B=2): M=9, global batches of 6 and 3 -> 2 steps of 2 then 1 per rank.
  //     (N=7,  W=4, B=1): M=4, one global batch of 4 -> 1 step of 1 per rank.
  struct Case {
    Shape s;
    int64_t steps;
    std::vector<size_t> sizes;
    int64_t dropped;
  };
  for (const Case& c : {Case{{10, 3, 2}, 2, {2, 1}, 1}, Case{{7, 4, 1}, 1, {1}, 3}}) {
    for (bool shuffle : {false, true}) {
      for (const auto& r : all_ranks(c.s, 11, shuffle)) {
        EXPECT_EQ(r.steps_per_epoch(), c.steps);
        EXPECT_EQ(r.dropped_per_epoch(), c.dropped);
        for (int64_t epoch = 0; epoch < 3; ++epoch) {
          const Batches b = r.epoch_batches(epoch);
          ASSERT_EQ(static_cast<int64_t>(b.size()), c.steps) << "rank " << r.rank();
          for (size_t k = 0; k < b.size(); ++k) EXPECT_EQ(b[k].size(), c.sizes[k]);
        }
      }
    }
  }
}

TEST(TrainSampler, DropLastDropsShortGlobalBatch) {
  // N=10, W=2, B=3: M=10, G=6 -> batches of 6 and 4 globally; drop_last keeps only the first.
  const TrainSampler keep(10, 2, 1, 3, 0, false, false);
  const TrainSampler drop(10, 2, 1, 3, 0, false, true);
  EXPECT_EQ(keep.epoch_batches(0), (Batches{{3, 4, 5}, {8, 9}}));
  EXPECT_EQ(drop.epoch_batches(0), (Batches{{3, 4, 5}}));
  EXPECT_EQ(drop.steps_per_epoch(), 1);
  EXPECT_EQ(drop.samples_per_rank(), 3);
  EXPECT_EQ(keep.samples_per_rank(), 5);
}

TEST(TrainSampler, WorldOfNRanksMatchesOneRankWithNTimesBatch) {
  // DESIGN invariant 4: at every step, the ranks' batches concatenated in rank order equal the
  // batch of one rank with W*B (N a multiple of W, so neither run drops samples).
  for (const Shape& s : {Shape{24, 4, 2}, Shape{30, 3, 4}, Shape{16, 2, 4}}) {
    const auto ranks = all_ranks(s, 123, true);
    const TrainSampler single(s.n, 1, 0, s.world * s.batch, 123, true, false);
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      const Batches one = single.epoch_batches(epoch);
      std::vector<Batches> per_rank;
      for (const auto& r : ranks) per_rank.push_back(r.epoch_batches(epoch));
      ASSERT_EQ(per_rank[0].size(), one.size());
      for (size_t k = 0; k < one.size(); ++k) {
        std::vector<int64_t> joined;
        for (const auto& b : per_rank) joined.insert(joined.end(), b[k].begin(), b[k].end());
        EXPECT_EQ(joined, one[k]) << "N=" << s.n << " W=" << s.world << " step " << k;
      }
    }
  }
}

TEST(TrainSampler, BadArgumentsThrow) {
  EXPECT_THROW(TrainSampler(3, 4, 0, 1, 0, true, false), frost::Error);   // N < W
  EXPECT_THROW(TrainSampler(10, 2, 2, 1, 0, true, false), frost::Error);  // rank >= W
  EXPECT_THROW(TrainSampler(10, 2, -1, 1, 0, true, false), frost::Error);
  EXPECT_THROW(TrainSampler(10, 0, 0, 1, 0, true, false), frost::Error);
  EXPECT_THROW(TrainSampler(10, 2, 0, 0, 0, true, false), frost::Error);  // B = 0
  EXPECT_THROW(TrainSampler(10, 2, 0, 6, 0, true, true), frost::Error);   // no full batch
  try {
    TrainSampler(10, 2, 0, 6, 0, true, true);
  } catch (const frost::Error& e) {
    EXPECT_NE(std::string(e.what()).find("drop_last"), std::string::npos) << e.what();
  }
  const TrainSampler ok(10, 2, 0, 1, 0, true, false);
  EXPECT_THROW(ok.epoch_batches(-1), frost::Error);
}

TEST(EvalSampler, RangesCoverEveryIndexExactlyOnce) {
  // F5: N=10 on 4 ranks -> [0,2) [2,5) [5,7) [7,10).
  const std::vector<std::pair<int64_t, int64_t>> expected{{0, 2}, {2, 5}, {5, 7}, {7, 10}};
  std::vector<int> hits(10, 0);
  for (int r = 0; r < 4; ++r) {
    const EvalSampler s(10, 4, r, 2);
    EXPECT_EQ(s.begin(), expected[static_cast<size_t>(r)].first);
    EXPECT_EQ(s.end(), expected[static_cast<size_t>(r)].second);
    for (const auto& b : s.batches()) {
      EXPECT_LE(b.size(), 2u);
      for (int64_t i : b) ++hits[static_cast<size_t>(i)];
    }
  }
  for (int i = 0; i < 10; ++i) EXPECT_EQ(hits[static_cast<size_t>(i)], 1) << "index " << i;
}

TEST(EvalSampler, BatchesAreContiguousAndLastIsShort) {
  const EvalSampler s(10, 2, 1, 2);  // [5, 10)
  EXPECT_EQ(s.batches(), (Batches{{5, 6}, {7, 8}, {9}}));
}

TEST(EvalSampler, MoreRanksThanSamplesLeavesSomeEmpty) {
  std::vector<int> hits(3, 0);
  int empty = 0;
  for (int r = 0; r < 4; ++r) {
    const EvalSampler s(3, 4, r, 8);
    if (s.size() == 0) {
      ++empty;
      EXPECT_TRUE(s.batches().empty());
    }
    for (const auto& b : s.batches())
      for (int64_t i : b) ++hits[static_cast<size_t>(i)];
  }
  EXPECT_EQ(empty, 1);
  EXPECT_EQ(hits, (std::vector<int>{1, 1, 1}));
}

TEST(EvalSampler, BadArgumentsThrow) {
  EXPECT_THROW(EvalSampler(10, 4, 4, 1), frost::Error);
  EXPECT_THROW(EvalSampler(10, 4, 0, 0), frost::Error);
  EXPECT_THROW(EvalSampler(-1, 4, 0, 1), frost::Error);
}

// ---- block shuffle (Note [Block shuffle]) -----------------------------------------------

using frost::data::BlockLayout;

// Blocks of `rows` rows over `shards` shards of the given sizes (each shard's last block short).
std::vector<int64_t> chunk_ends(const std::vector<int64_t>& shard_rows, int64_t rows) {
  std::vector<int64_t> ends;
  int64_t base = 0;
  for (int64_t n : shard_rows) {
    for (int64_t r = rows; r < n; r += rows) ends.push_back(base + r);
    ends.push_back(base + n);
    base += n;
  }
  return ends;
}

std::vector<TrainSampler> block_ranks(int64_t n, int world, int64_t batch, uint64_t seed,
                                      const std::vector<int64_t>& ends, int64_t window,
                                      bool drop_last = false) {
  std::vector<TrainSampler> out;
  for (int r = 0; r < world; ++r)
    out.emplace_back(n, world, r, batch, seed, drop_last, BlockLayout{ends, window});
  return out;
}

int64_t block_of(const std::vector<int64_t>& ends, int64_t row) {
  return std::upper_bound(ends.begin(), ends.end(), row) - ends.begin();
}

struct BlockCase {
  std::vector<int64_t> shards;  // rows per shard
  int64_t chunk_rows;
  int world;
  int64_t batch;
  int64_t window;
};

const std::vector<BlockCase> kBlockCases = {
    {{1000}, 64, 1, 8, 200},         {{1000}, 64, 3, 8, 200},   {{1003, 517}, 50, 4, 7, 130},
    {{37, 250, 9}, 16, 2, 5, 40},    {{100}, 100, 2, 4, 1000},  {{200}, 1, 3, 4, 10},
    {{4096}, 256, 4, 32, 1024},      {{11}, 3, 4, 1, 2},
};

TEST(BlockShuffle, EqualStepsAndBatchSizesOnEveryRank) {
  for (const BlockCase& c : kBlockCases) {
    const auto ends = chunk_ends(c.shards, c.chunk_rows);
    const int64_t n = ends.back();
    for (bool drop_last : {false, true}) {
      if (drop_last && n / c.world < c.batch) continue;
      const auto ranks = block_ranks(n, c.world, c.batch, 5, ends, c.window, drop_last);
      const TrainSampler global(n, c.world, 0, c.batch, 5, true, drop_last);
      for (int64_t epoch = 0; epoch < 2; ++epoch) {
        const Batches b0 = ranks[0].epoch_batches(epoch);
        // The same steps as the global permutation of the same shape.
        EXPECT_EQ(static_cast<int64_t>(b0.size()), global.steps_per_epoch());
        EXPECT_EQ(ranks[0].steps_per_epoch(), global.steps_per_epoch());
        for (const auto& s : ranks) {
          const Batches b = s.epoch_batches(epoch);
          ASSERT_EQ(b.size(), b0.size()) << "rank " << s.rank();
          for (size_t k = 0; k < b.size(); ++k) EXPECT_EQ(b[k].size(), b0[k].size()) << "step " << k;
          EXPECT_EQ(static_cast<int64_t>(flatten(b).size()), s.samples_per_rank());
        }
      }
    }
  }
}

TEST(BlockShuffle, EverySampleOncePerEpoch) {
  for (const BlockCase& c : kBlockCases) {
    const auto ends = chunk_ends(c.shards, c.chunk_rows);
    const int64_t n = ends.back();
    const auto ranks = block_ranks(n, c.world, c.batch, 11, ends, c.window);
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      std::vector<int> hits(static_cast<size_t>(n), 0);
      for (const auto& s : ranks)
        for (int64_t i : flatten(s.epoch_batches(epoch))) ++hits[static_cast<size_t>(i)];
      int64_t once = 0;
      for (int h : hits) {
        EXPECT_LE(h, 1);
        once += h;
      }
      EXPECT_EQ(once, ranks[0].used_per_epoch());
      EXPECT_EQ(n - once, ranks[0].dropped_per_epoch());
      EXPECT_LT(n - once, c.world);
      // epoch_permutation: the ranks' rows in rank order, then the dropped ones; a permutation.
      const std::vector<int64_t> perm = ranks[0].epoch_permutation(epoch);
      std::vector<int64_t> concat;
      for (const auto& s : ranks) {
        const auto f = flatten(s.epoch_batches(epoch));
        concat.insert(concat.end(), f.begin(), f.end());
      }
      EXPECT_TRUE(std::equal(concat.begin(), concat.end(), perm.begin()));
      std::vector<int64_t> sorted = perm;
      std::sort(sorted.begin(), sorted.end());
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(sorted[static_cast<size_t>(i)], i);
    }
  }
}

TEST(BlockShuffle, DeterministicAndAFunctionOfSeedAndEpoch) {
  // Resume recomputes the batches from (seed, epoch, layout): a fresh sampler gives the same
  // batches, so the suffix from any step is the one the interrupted run would have read.
  const auto ends = chunk_ends({1003, 517}, 50);
  const auto a = block_ranks(1520, 2, 8, 42, ends, 130);
  const auto b = block_ranks(1520, 2, 8, 42, ends, 130);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(a[r].epoch_batches(3), b[r].epoch_batches(3));
    EXPECT_NE(a[r].epoch_batches(3), a[r].epoch_batches(4));
    EXPECT_EQ(a[r].epoch_batches(3), a[r].epoch_batches(3));  // no hidden state
  }
  const auto other_seed = block_ranks(1520, 2, 8, 43, ends, 130);
  EXPECT_NE(a[0].epoch_batches(0), other_seed[0].epoch_batches(0));
  EXPECT_NE(a[0].block_order(0), a[0].block_order(1));
  // Pinned values: the order must not change between builds or standard libraries (changing
  // it breaks the resume of a running job). Recorded from this implementation.
  const auto small = block_ranks(40, 2, 2, 1, chunk_ends({40}, 8), 4);
  EXPECT_EQ(small[0].block_order(0), (std::vector<int64_t>{4, 0, 3, 1, 2}));
  EXPECT_EQ(flatten(small[1].epoch_batches(0)), (std::vector<int64_t>{31, 29, 28, 30, 9, 11, 10, 8, 13, 14, 12, 15, 17, 19, 18, 16, 20, 21, 22, 23}));
}

TEST(BlockShuffle, EachRankReadsContiguousBlocksOnce) {
  // Rank r reads whole blocks, except at most two cut at the ends of its part; a block is
  // read by at most two ranks, and (rank, block) pairs number at most blocks + W - 1.
  for (const BlockCase& c : kBlockCases) {
    const auto ends = chunk_ends(c.shards, c.chunk_rows);
    const int64_t n = ends.back();
    const auto ranks = block_ranks(n, c.world, c.batch, 3, ends, c.window);
    std::vector<std::set<int>> readers(ends.size());
    size_t pairs = 0;
    for (const auto& s : ranks) {
      std::vector<int64_t> taken(ends.size(), 0);
      for (int64_t i : flatten(s.epoch_batches(1))) ++taken[static_cast<size_t>(block_of(ends, i))];
      int partial = 0;
      for (size_t b = 0; b < ends.size(); ++b) {
        if (taken[b] == 0) continue;
        ++pairs;
        readers[b].insert(s.rank());
        const int64_t rows = ends[b] - (b == 0 ? 0 : ends[b - 1]);
        partial += taken[b] < rows;
      }
      EXPECT_LE(partial, 2) << "rank " << s.rank();
    }
    for (const auto& r : readers) EXPECT_LE(r.size(), 2u);
    EXPECT_LE(pairs, ends.size() + static_cast<size_t>(c.world) - 1);
  }
}

TEST(BlockShuffle, WindowBoundsTheBlocksInUse) {
  // The blocks a rank has started and not finished after any step: at most those overlapping
  // one window, S / min_block + 2 (what bounds the decoded memory of the loader).
  for (const BlockCase& c : kBlockCases) {
    const auto ends = chunk_ends(c.shards, c.chunk_rows);
    const int64_t n = ends.back();
    int64_t min_block = n;
    for (size_t b = 0; b < ends.size(); ++b)
      min_block = std::min(min_block, ends[b] - (b == 0 ? 0 : ends[b - 1]));
    for (const auto& s : block_ranks(n, c.world, c.batch, 9, ends, c.window)) {
      EXPECT_EQ(s.window() % c.batch, 0);
      EXPECT_GE(s.window(), c.batch);
      EXPECT_LE(s.window(), std::max(c.window, c.batch));
      const Batches batches = s.epoch_batches(0);
      std::vector<int64_t> last(ends.size(), -1), first(ends.size(), -1);
      for (size_t k = 0; k < batches.size(); ++k)
        for (int64_t i : batches[k]) {
          const auto b = static_cast<size_t>(block_of(ends, i));
          if (first[b] < 0) first[b] = static_cast<int64_t>(k);
          last[b] = static_cast<int64_t>(k);
        }
      const int64_t bound = s.window() / min_block + 2;
      for (size_t k = 0; k < batches.size(); ++k) {
        int64_t live = 0;  // used at or before step k and again after it
        for (size_t b = 0; b < ends.size(); ++b)
          live += first[b] >= 0 && first[b] <= static_cast<int64_t>(k) &&
                  last[b] > static_cast<int64_t>(k);
        ASSERT_LE(live, bound) << "step " << k << ", rank " << s.rank();
      }
    }
  }
}

TEST(BlockShuffle, WindowsAreShuffledAndMixBlocks) {
  // One rank, 4096 rows in blocks of 256, window 1024 (4 blocks): the first window holds exactly
  // the rows of the first 4 blocks of the block order, not in stream order; every batch of 32
  // draws from more than one block.
  const auto ends = chunk_ends({4096}, 256);
  const TrainSampler s(4096, 1, 0, 32, 2, false, BlockLayout{ends, 1024});
  const Batches b = s.epoch_batches(0);
  const std::vector<int64_t> order = s.block_order(0);
  std::vector<int64_t> window;
  for (size_t k = 0; k < 32; ++k) window.insert(window.end(), b[k].begin(), b[k].end());
  std::set<int64_t> blocks;
  for (int64_t i : window) blocks.insert(block_of(ends, i));
  EXPECT_EQ(blocks, (std::set<int64_t>(order.begin(), order.begin() + 4)));
  EXPECT_FALSE(std::is_sorted(window.begin(), window.end()));
  for (const auto& batch : b) {
    std::set<int64_t> in_batch;
    for (int64_t i : batch) in_batch.insert(block_of(ends, i));
    EXPECT_GT(in_batch.size(), 1u);
  }
}

TEST(BlockShuffle, WorldSizeChangesTheStepsNotTheBlockOrderOrTheEpochsSamples) {
  // What does and does not depend on W (Note [Block shuffle]): the block order and, when W
  // divides N, the samples of an epoch are the same; global step 0 is not.
  const auto ends = chunk_ends({1024}, 64);
  const auto one = block_ranks(1024, 1, 16, 4, ends, 256);
  const auto two = block_ranks(1024, 2, 8, 4, ends, 256);
  EXPECT_EQ(one[0].block_order(2), two[1].block_order(2));
  auto sorted = [](std::vector<int64_t> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  std::vector<int64_t> both = flatten(two[0].epoch_batches(2));
  const auto r1 = flatten(two[1].epoch_batches(2));
  both.insert(both.end(), r1.begin(), r1.end());
  EXPECT_EQ(sorted(flatten(one[0].epoch_batches(2))), sorted(both));
  std::vector<int64_t> step0 = two[0].epoch_batches(2)[0];
  const std::vector<int64_t> step0_r1 = two[1].epoch_batches(2)[0];
  step0.insert(step0.end(), step0_r1.begin(), step0_r1.end());
  EXPECT_NE(sorted(one[0].epoch_batches(2)[0]), sorted(step0));
}

TEST(BlockShuffle, BadLayoutsThrow) {
  EXPECT_THROW(TrainSampler(10, 1, 0, 2, 0, false, BlockLayout{{5, 9}, 4}), frost::Error);
  EXPECT_THROW(TrainSampler(10, 1, 0, 2, 0, false, BlockLayout{{5, 5, 10}, 4}), frost::Error);
  EXPECT_THROW(TrainSampler(10, 1, 0, 2, 0, false, BlockLayout{{}, 4}), frost::Error);
  EXPECT_THROW(TrainSampler(10, 1, 0, 2, 0, false, BlockLayout{{10}, 0}), frost::Error);
  EXPECT_THROW(TrainSampler(1, 2, 0, 2, 0, false, BlockLayout{{1}, 4}), frost::Error);
  EXPECT_THROW(TrainSampler(10, 1, 0, 2, 0, false, BlockLayout{{10}, 4}).block_order(-1),
               frost::Error);
  EXPECT_THROW(TrainSampler(10, 1, 0, 2, 0, true, false).block_order(0), frost::Error);
}

TEST(BlockShuffle, DefaultWindowFitsTheBudget) {
  using frost::data::block_shuffle_window;
  // 128 MiB of 3072-byte rows in chunks of 1024 rows: 43690 rows fit, less two chunks.
  EXPECT_EQ(block_shuffle_window(int64_t{128} << 20, 3072, 1024), 43690 - 2048);
  EXPECT_EQ(block_shuffle_window(0, 3072, 1024), 1024);  // at least one block
  EXPECT_THROW(block_shuffle_window(1, 0, 1), frost::Error);
  EXPECT_THROW(block_shuffle_window(-1, 1, 1), frost::Error);
}


// ---- another world size (Note [Another world size]) ------------------------------------

using frost::data::describe_world_size_change;

// The global batches of `epoch` for W ranks of `rows` rows each: the ranks' batches of every step
// concatenated in rank order.
Batches global_batches(int64_t n, int world, int64_t rows, int64_t epoch, bool drop_last = false) {
  std::vector<Batches> per_rank;
  for (int r = 0; r < world; ++r)
    per_rank.push_back(TrainSampler(n, world, r, rows, 77, true, drop_last).epoch_batches(epoch));
  Batches out(per_rank[0].size());
  for (size_t k = 0; k < out.size(); ++k)
    for (const auto& b : per_rank) out[k].insert(out[k].end(), b[k].begin(), b[k].end());
  return out;
}

TEST(TrainSampler, GlobalBatchesDoNotDependOnTheWorldSize) {
  // The same global batch G = 8 on 1, 2, 4 and 8 ranks, N a multiple of 8 (no run drops a
  // sample): the same global batch, in the same order, at every step of every epoch.
  for (int64_t n : {64, 40, 8}) {
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      const Batches one = global_batches(n, 1, 8, epoch);
      for (int w : {2, 4, 8}) {
        EXPECT_EQ(global_batches(n, w, 8 / w, epoch), one) << "N=" << n << " W=" << w;
      }
    }
  }
}

TEST(WorldSizeChange, TheSameSamplesPerEpochKeepTheOrder) {
  const TrainSampler now(64, 4, 0, 2, 77, true, false);
  const auto c = describe_world_size_change(now, 2, 1, 3);
  EXPECT_TRUE(c.same_order);
  EXPECT_EQ(c.text, "data order kept: the same permutation and global batch of 8 samples at every "
                    "step, dealt to 4 ranks instead of 2");
  const TrainSampler file_order(64, 2, 1, 4, 77, false, false);
  EXPECT_NE(describe_world_size_change(file_order, 4, 0, 0).text.find("the same file order"),
            std::string::npos);
}

TEST(WorldSizeChange, OtherSamplesPerEpochChangeOnlyTheLastGlobalBatch) {
  // N = 30, G = 8: 2 ranks use all 30 (last global batch 6), 4 ranks 28 (last batch 4).
  const Batches two = global_batches(30, 2, 4, 1), four = global_batches(30, 4, 2, 1);
  ASSERT_EQ(two.size(), 4u);
  ASSERT_EQ(four.size(), 4u);
  for (size_t k = 0; k + 1 < two.size(); ++k) EXPECT_EQ(two[k], four[k]) << k;
  EXPECT_EQ(two[3].size(), 6u);
  EXPECT_EQ(four[3], std::vector<int64_t>(two[3].begin(), two[3].begin() + 4));
  const auto c = describe_world_size_change(TrainSampler(30, 4, 2, 2, 77, true, false), 2, 0, 1);
  EXPECT_FALSE(c.same_order);
  EXPECT_EQ(c.text, "data order kept but for each epoch's last global batch, which holds 4 "
                    "samples instead of 6 (4 ranks leave out the last 2 of each permutation, 2 "
                    "the last 0)");
  // N = 33, G = 8: 1 rank runs 5 steps (the last of 1 sample), 4 ranks 4.
  EXPECT_EQ(global_batches(33, 1, 8, 0).size(), 5u);
  const TrainSampler on4(33, 4, 0, 2, 77, true, false);
  ASSERT_EQ(on4.steps_per_epoch(), 4);
  const Batches one = global_batches(33, 1, 8, 0), four33 = global_batches(33, 4, 2, 0);
  for (size_t k = 0; k < 4; ++k) EXPECT_EQ(one[k], four33[k]) << k;
  const auto s = describe_world_size_change(on4, 1, 0, 2);
  EXPECT_FALSE(s.same_order);
  EXPECT_NE(s.text.find("holds 8 samples instead of 1"), std::string::npos) << s.text;
  EXPECT_NE(s.text.find("steps per epoch 5 -> 4, so the run's total steps and the LR schedule's "
                        "length change"),
            std::string::npos)
      << s.text;
}

TEST(WorldSizeChange, DropLastKeepsTheOrderWhateverTheSamplesPerEpoch) {
  // With drop_last only full global batches run: floor(N/G) of them on every world size that
  // divides G, the same ones.
  for (int64_t n : {30, 33, 39}) {
    const Batches one = global_batches(n, 1, 8, 2, true);
    EXPECT_EQ(global_batches(n, 2, 4, 2, true), one) << n;
    EXPECT_EQ(global_batches(n, 4, 2, 2, true), one) << n;
    EXPECT_EQ(global_batches(n, 8, 1, 2, true), one) << n;
    EXPECT_TRUE(describe_world_size_change(TrainSampler(n, 4, 0, 2, 77, true, true), 1, 0, 1)
                    .same_order)
        << n;
  }
}

TEST(WorldSizeChange, TheBlockShuffleSaysWhatChanges) {
  const auto ends = chunk_ends({64}, 8);
  const TrainSampler now(64, 4, 0, 2, 77, false, BlockLayout{ends, 16});
  const auto mid = describe_world_size_change(now, 2, 1, 3);  // epoch 2 (1-based), 3 steps done
  EXPECT_FALSE(mid.same_order);
  EXPECT_EQ(mid.text, "data order changes (block shuffle: which rows form a step depends on the "
                      "world size): epochs from 3 on are full passes in the order of 4 ranks "
                      "instead of 2; the rest of epoch 2 (steps 4..8) takes that order's batches, "
                      "so some of its samples are seen twice in it and others not at all");
  const auto boundary = describe_world_size_change(now, 2, 2, 0);
  EXPECT_EQ(boundary.text, "data order changes (block shuffle: which rows form a step depends on "
                           "the world size): epochs from 3 on are full passes in the order of 4 "
                           "ranks instead of 2");
  // And it is so: global step 3 of epoch 1 differs between 2 and 4 ranks.
  auto block_global = [&](int w, int64_t epoch) {
    Batches out;
    const auto ranks = block_ranks(64, w, 8 / w, 77, ends, 16);
    for (size_t k = 0; k < static_cast<size_t>(ranks[0].steps_per_epoch()); ++k) {
      std::vector<int64_t> g;
      for (const auto& r : ranks) {
        const auto b = r.epoch_batches(epoch)[k];
        g.insert(g.end(), b.begin(), b.end());
      }
      std::sort(g.begin(), g.end());
      out.push_back(g);
    }
    return out;
  };
  EXPECT_NE(block_global(2, 1)[3], block_global(4, 1)[3]);
}

TEST(WorldSizeChange, BadArgumentsThrow) {
  const TrainSampler now(64, 4, 0, 2, 77, true, false);
  EXPECT_THROW(describe_world_size_change(now, 3, 0, 0), frost::Error);  // 3 does not divide 8
  EXPECT_THROW(describe_world_size_change(now, 0, 0, 0), frost::Error);
  EXPECT_THROW(describe_world_size_change(now, 2, -1, 0), frost::Error);
}

}  // namespace
