// Resuming on another world size (Note [Resuming on another world size] in
// frost/train/checkpoint.h): the split of the checkpoint's global batch on the new world size,
// the refusal of a world size that cannot share it, the config the Trainer runs with, and
// load_checkpoint's checks of the global batch and of every other key.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/models/models.h"
#include "frost/train/checkpoint.h"
#include "frost/train/optimizer.h"
#include "test_util.h"

namespace frost::train {
namespace {

BatchSplit split(int64_t batch_size, int64_t grad_accum_steps) {
  return BatchSplit{batch_size, grad_accum_steps};
}

std::string refusal(int64_t global_batch, int world_size, BatchSplit configured) {
  try {
    split_for_world_size(global_batch, world_size, configured);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "global batch " << global_batch << " on " << world_size << " ranks accepted";
  return "";
}

TEST(ResumeWorldSize, TheConfiguredSplitStaysWhenItMakesTheGlobalBatch) {
  EXPECT_EQ(split_for_world_size(8, 2, split(4, 1)), split(4, 1));   // same world size
  EXPECT_EQ(split_for_world_size(8, 4, split(1, 2)), split(1, 2));   // set by hand for 4 ranks
  EXPECT_EQ(split_for_world_size(8, 1, split(2, 4)), split(2, 4));
}

TEST(ResumeWorldSize, MoreRanksShrinkTheMicroBatch) {
  // 2 ranks x 4 (G = 8) resumed on 4: 2 rows per rank, one micro-batch of 2.
  EXPECT_EQ(split_for_world_size(8, 4, split(4, 1)), split(2, 1));
  // 2 ranks x 4 x 2 accumulation (G = 16) on 8: 2 rows per rank.
  EXPECT_EQ(split_for_world_size(16, 8, split(4, 2)), split(2, 1));
  // 1 rank x 8 (G = 8) on 8 ranks: one row each.
  EXPECT_EQ(split_for_world_size(8, 8, split(8, 1)), split(1, 1));
}

TEST(ResumeWorldSize, FewerRanksAccumulateAndKeepTheMicroBatch) {
  // 4 ranks x 2 (G = 8) resumed on 2: 4 rows per rank, micro-batch 2 twice.
  EXPECT_EQ(split_for_world_size(8, 2, split(2, 1)), split(2, 2));
  EXPECT_EQ(split_for_world_size(8, 1, split(2, 1)), split(2, 4));
  // The configured micro-batch is a cap, not a target: 4 rows fit one micro-batch of 64.
  EXPECT_EQ(split_for_world_size(8, 2, split(64, 1)), split(4, 1));
}

TEST(ResumeWorldSize, TheMicroBatchIsTheLargestDivisorNotAboveTheConfiguredOne) {
  // 12 rows per rank, at most 5 at once: 4 x 3 (5 does not divide 12).
  EXPECT_EQ(split_for_world_size(24, 2, split(5, 1)), split(4, 3));
  // 14 rows, at most 4 at once: 2 x 7 (neither 4 nor 3 divides 14).
  EXPECT_EQ(split_for_world_size(14, 1, split(4, 1)), split(2, 7));
  // 7 rows (a prime), at most 4: 1 x 7.
  EXPECT_EQ(split_for_world_size(14, 2, split(4, 1)), split(1, 7));
}

TEST(ResumeWorldSize, AWorldSizeThatCannotShareTheGlobalBatchIsRefusedNamingTheNearestThatCan) {
  const std::string three = refusal(8, 3, split(4, 1));
  EXPECT_NE(three.find("the global batch 8 cannot be shared equally by 3 ranks: resume on 2 or 4 "
                       "ranks (the nearest divisors of 8)"),
            std::string::npos)
      << three;
  EXPECT_NE(three.find("model.init"), std::string::npos) << three;
  const std::string four = refusal(6, 4, split(3, 1));
  EXPECT_NE(four.find("by 4 ranks: resume on 3 or 6 ranks"), std::string::npos) << four;
  // Above the global batch no world size keeps it: only the one below is named.
  const std::string eight = refusal(7, 8, split(7, 1));
  EXPECT_NE(eight.find("by 8 ranks: resume on 7 ranks (the nearest divisors of 7)"),
            std::string::npos)
      << eight;
  EXPECT_THROW(split_for_world_size(0, 2, split(1, 1)), Error);
  EXPECT_THROW(split_for_world_size(8, 0, split(1, 1)), Error);
  EXPECT_THROW(split_for_world_size(8, 2, split(0, 1)), Error);
}

// A checkpoint of an MLP written by a run of `world_size` ranks with `cfg`'s split.
struct Written {
  Config cfg;
  models::Classifier model{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer;
};

Written write_checkpoint(const std::string& name, int world_size, BatchSplit s) {
  Written w;
  w.cfg.log.dir = testing::tmp_path(name);
  fs::remove_tree(w.cfg.log.dir);
  w.cfg.data.batch_size = s.batch_size;
  w.cfg.train.grad_accum_steps = s.grad_accum_steps;
  w.cfg.optim.lr = 0.05;
  torch::manual_seed(5);
  models::BackboneSpec spec;
  spec.arch = "mlp";
  spec.in_features = 6;
  spec.hidden = {5};
  w.model = models::Classifier(models::make_backbone(spec), 3);
  w.optimizer = make_optimizer(w.cfg.optim, *w.model);
  RunPosition position;  // step 3: epoch 2 (0-based 1), one step of it done
  position.global_step = 3;
  position.epoch = 1;
  position.step_in_epoch = 1;
  save_checkpoint(w.cfg, 0, world_size, *w.model, *w.optimizer, position, fault::Plan{});
  w.cfg.resume = "auto";
  return w;
}

TEST(ResumeWorldSize, ConfigForResumeKeepsTheCheckpointsGlobalBatch) {
  Written w = write_checkpoint("resume_world_size_config", 2, split(4, 1));
  const std::optional<CheckpointFile> file = read_checkpoint(w.cfg, 0);
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->world_size(), 2);
  EXPECT_EQ(file->split(), split(4, 1));
  EXPECT_EQ(file->global_batch(), 8);
  // 2 -> 4 ranks with the unchanged config: micro-batch 2.
  const Config on4 = config_for_resume(w.cfg, *file, 0, 4);
  EXPECT_EQ(on4.data.batch_size, 2);
  EXPECT_EQ(on4.train.grad_accum_steps, 1);
  // Everything else as configured.
  Config expected = w.cfg;
  expected.data.batch_size = 2;
  EXPECT_EQ(on4.to_ini(), expected.to_ini());
  // 2 -> 1 rank: micro-batch 4 twice.
  const Config on1 = config_for_resume(w.cfg, *file, 0, 1);
  EXPECT_EQ(on1.data.batch_size, 4);
  EXPECT_EQ(on1.train.grad_accum_steps, 2);
  // The same world size with the same config: unchanged.
  EXPECT_EQ(config_for_resume(w.cfg, *file, 0, 2).to_ini(), w.cfg.to_ini());
  // 3 ranks cannot share 8 rows: refused with the file, both splits and the way out.
  try {
    config_for_resume(w.cfg, *file, 0, 3);
    ADD_FAILURE() << "3 ranks accepted a global batch of 8";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("--resume: '" + file->path() +
                     "' was written by 2 ranks x data.batch_size 4 x train.grad_accum_steps 1: "
                     "the global batch 8 cannot be shared equally by 3 ranks: resume on 2 or 4"),
              std::string::npos)
        << m;
  }
}

TEST(ResumeWorldSize, LoadCheckpointChecksTheGlobalBatchAndEveryOtherKey) {
  Written w = write_checkpoint("resume_world_size_load", 4, split(2, 1));
  const std::optional<CheckpointFile> file = read_checkpoint(w.cfg, 0);
  ASSERT_TRUE(file.has_value());
  auto optimizer_for = [&](const RunPosition&) -> torch::optim::Optimizer& {
    return *w.optimizer;
  };
  // A job started as 2 ranks x 4, resharded to 4 ranks (this checkpoint holds 4 x 2) and
  // requeued with its original config: on 4 ranks it keeps 2, on 2 ranks it is 4 x 1 again.
  Config original = w.cfg;
  original.data.batch_size = 4;
  EXPECT_EQ(config_for_resume(original, *file, 0, 4).data.batch_size, 2);
  EXPECT_EQ(config_for_resume(original, *file, 0, 2).data.batch_size, 4);
  EXPECT_EQ(config_for_resume(original, *file, 0, 2).train.grad_accum_steps, 1);
  // 4 -> 2 ranks with the split that keeps G = 8: loads, at the saved position.
  const Config on2 = config_for_resume(w.cfg, *file, 0, 2);
  ASSERT_EQ(on2.data.batch_size, 2);
  ASSERT_EQ(on2.train.grad_accum_steps, 2);
  const RunPosition p = load_checkpoint(on2, 0, 2, *w.model, *file, optimizer_for);
  EXPECT_EQ(p.global_step, 3);
  EXPECT_EQ(p.epoch, 1);
  EXPECT_EQ(p.step_in_epoch, 1);
  // Without the new split the global batch would be 4: refused, both named.
  try {
    load_checkpoint(w.cfg, 0, 2, *w.model, *file, optimizer_for);
    ADD_FAILURE() << "a global batch of 4 resumed a checkpoint of 8";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "was written with the global batch 8 (4 ranks x data.batch_size 2 x "
                  "train.grad_accum_steps 1); resuming with 2 ranks x data.batch_size 2 x "
                  "train.grad_accum_steps 1 = 4 would change it"),
              std::string::npos)
        << e.what();
  }
  // Another key is still refused, with the split changed as well.
  Config other = on2;
  other.optim.lr = 0.5;
  try {
    load_checkpoint(other, 0, 2, *w.model, *file, optimizer_for);
    ADD_FAILURE() << "another optim.lr resumed";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("checkpoint has optim.lr = 0.05; now optim.lr = 0.5"), std::string::npos) << m;
    EXPECT_EQ(m.find("batch_size"), std::string::npos) << m;  // the split is not a difference
  }
}

}  // namespace
}  // namespace frost::train
