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

}  // namespace
