// MPI tests of the strategies that change what trains at an epoch boundary (lp-ft, partial with
// gradual unfreezing; Note [Strategy phases] in strategy.h): every rank rebuilds its buckets and
// optimizer at the same step (no hang at 1, 2 and 4 ranks), the bytes all-reduced per step follow
// the trainable set, frozen parameters and BatchNorm buffers stay bitwise, lp-ft equals a head
// run followed by a full run from its model, and a resume across the switch is bitwise. The
// rebuild and the frozen-block bodies take a Target (Note [Training tests on CPU and GPU] in
// device_target.h): their GPU twins (suites Gpu*) run them on CUDA with NCCL, or skip.
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "frost/core/error.h"
#include "frost/distributed/grad_reducer.h"
#include "frost/models/weights.h"
#include "frost/train/trainer.h"
#include "device_target.h"
#include "mpi_test_util.h"

namespace frost::testing {
namespace {

std::vector<nlohmann::json> rows_of(const std::string& metrics, const std::string& kind) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["kind"] == kind) rows.push_back(j);
  }
  return rows;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// The MLP of small_config ("32,16" on 12 features, 3 classes) has 2 blocks, layers.0 and
// layers.2 (Note [Backbone blocks]).
constexpr int64_t kLayer0 = 12 * 32 + 32, kLayer2 = 32 * 16 + 16, kHead = 16 * 3 + 3;

// Runs `cfg` (3 epochs) and checks, per epoch, the trainable parameters of the epoch record and
// the comm_bytes of every train record (4 bytes per trainable element on more than one rank),
// the strategy text, and that the buckets and the optimizer end over the last epoch's set.
void expect_rebuilds(train::Config cfg, const std::vector<int64_t>& trainable,
                     const std::vector<std::string>& phase, const Target& target) {
  auto& c = world();
  target.configure(cfg);
  train::Trainer t(cfg, c);
  const int64_t before = digest(*t.model()->backbone);
  t.run();
  EXPECT_NE(digest(*t.model()->backbone), before) << "the backbone never trained";
  EXPECT_EQ(t.reducer().total_numel(), trainable.back());
  int64_t in_optimizer = 0;
  for (auto& g : t.optimizer().param_groups()) {
    for (auto& p : g.params()) in_optimizer += p.numel();
  }
  EXPECT_EQ(in_optimizer, trainable.back());
  EXPECT_TRUE(same_on_all_ranks(digest(*t.model())));
  if (c.rank() != 0) return;
  const auto epochs = rows_of(cfg.log.dir + "/metrics.jsonl", "epoch");
  ASSERT_EQ(epochs.size(), trainable.size());
  for (size_t e = 0; e < epochs.size(); ++e) {
    EXPECT_EQ(epochs[e]["trainable_params"].get<int64_t>(), trainable[e]) << "epoch " << e + 1;
    EXPECT_EQ(epochs[e]["strategy"].get<std::string>(), phase[e]) << "epoch " << e + 1;
  }
  for (const auto& r : rows_of(cfg.log.dir + "/metrics.jsonl", "train")) {
    const size_t e = r["epoch"].get<size_t>() - 1;
    EXPECT_EQ(r["comm_bytes"].get<int64_t>(), c.world_size() == 1 ? 0 : 4 * trainable[e])
        << "step " << r["step"];
    EXPECT_EQ(r["strategy"].get<std::string>(), phase[e]) << "step " << r["step"];
  }
}

void expect_lpft_rebuilds(const Target& target) {
  auto& c = world();
  const std::string dir = job_dir("lpft-rebuild" + target.suffix());
  const std::string data = write_features(dir + "/train.h5", c.world_size() * 4 * 3, 12, 3);
  auto cfg = small_config(data, dir + "/run");
  cfg.train.strategy = train::StrategyKind::kLpFt;
  cfg.train.epochs = 3;
  cfg.train.lp_epochs = 1;
  const int64_t all = kLayer0 + kLayer2 + kHead;
  expect_rebuilds(cfg, {kHead, all, all}, {"lp-ft:head", "lp-ft:full", "lp-ft:full"}, target);
}

TEST(StrategyPhases, LpFtRebuildsBucketsAtTheSwitchWorld1World2World4) {
  expect_lpft_rebuilds(cpu_target());
}
TEST(GpuStrategyPhases, LpFtRebuildsBucketsAtTheSwitchWorld1World2) {
  FROST_GPU_TARGET_OR_SKIP(target);
  expect_lpft_rebuilds(target);
}

TEST(StrategyPhases, GradualUnfreezingRebuildsAtEveryUnfreezeWorld1World2World4) {
  auto& c = world();
  const std::string dir = job_dir("gradual-rebuild");
  const std::string data = write_features(dir + "/train.h5", c.world_size() * 4 * 3, 12, 3);
  auto cfg = small_config(data, dir + "/run");
  cfg.train.strategy = train::StrategyKind::kPartial;
  cfg.train.unfreeze_last = 1;
  cfg.train.unfreeze_every = 1;
  cfg.train.epochs = 3;
  const int64_t all = kLayer0 + kLayer2 + kHead;
  expect_rebuilds(cfg, {kLayer2 + kHead, all, all}, {"partial", "partial", "partial"},
                  cpu_target());
}

// lp-ft with lp_ft_optimizer_state = reset is a head run followed by a full run from its
// model.pt, bitwise, when nothing else depends on the epoch number: a constant learning rate
// without warmup (one run's cosine would span both phases) and data.shuffle = false (epoch e's
// order is seeded by e). keep carries the head's momentum into the full phase: another result.
TEST(StrategyPhases, LpFtEqualsAHeadRunThenAFullRunFromItsModelAnyWorld) {
  auto& c = world();
  const std::string dir = job_dir("lpft-equals");
  const std::string data = write_features(dir + "/train.h5", c.world_size() * 4 * 3, 12, 3);
  auto cfg = small_config(data, dir + "/lpft");
  cfg.optim.schedule = train::LrSchedule::kConstant;
  cfg.optim.warmup_steps = 0;
  cfg.data.shuffle = false;
  cfg.train.strategy = train::StrategyKind::kLpFt;
  cfg.train.epochs = 3;
  cfg.train.lp_epochs = 1;
  train::Trainer lpft(cfg, c);
  lpft.run();

  auto head_cfg = cfg;
  head_cfg.log.dir = dir + "/head";
  head_cfg.train.strategy = train::StrategyKind::kHead;
  head_cfg.train.epochs = 1;
  {
    train::Trainer head(head_cfg, c);
    head.run();
  }
  auto full_cfg = cfg;
  full_cfg.log.dir = dir + "/full";
  full_cfg.train.strategy = train::StrategyKind::kFull;
  full_cfg.train.epochs = 2;
  full_cfg.model.init = dir + "/head/model.pt";
  train::Trainer full(full_cfg, c);
  full.run();
  EXPECT_EQ(digest(*lpft.model()), digest(*full.model()))
      << "lp-ft differs from head then full from its model";

  auto keep_cfg = cfg;
  keep_cfg.log.dir = dir + "/keep";
  keep_cfg.train.lp_ft_optimizer_state = train::LpFtOptimizerState::kKeep;
  train::Trainer keep(keep_cfg, c);
  keep.run();
  EXPECT_NE(digest(*keep.model()), digest(*lpft.model())) << "keep did not carry the momentum";
  // The head's momentum continued from the head phase (the only difference from reset).
  auto& head_w = keep.model()->head->weight;
  EXPECT_EQ(keep.optimizer().state().count(head_w.unsafeGetTensorImpl()), 1u);
  EXPECT_TRUE(same_on_all_ranks(digest(*keep.model())));
}

// partial on a ResNet with BatchNorm: the last 2 blocks (layer4.0, layer4.1) train with the
// head; every other parameter and every BatchNorm buffer outside them (statistics set far from
// the data's) are bitwise unchanged after 2 epochs, while layer4's statistics moved; the
// buckets and the optimizer hold layer4 and the head only, and one rank all-reduces 4 bytes per
// trainable element per step.
// Bitwise on the GPU too: no kernel writes a frozen tensor.
void expect_partial_keeps_frozen_blocks(const Target& target) {
  auto& c = world();
  const std::string dir = job_dir("partial-frozen" + target.suffix());
  const std::string data = write_images(dir + "/train.h5", 16 * c.world_size(), 8, 3);
  const std::string init = dir + "/init.pt";
  auto cfg = small_config(data, dir + "/run");
  target.configure(cfg);
  cfg.model.backbone = train::BackboneKind::kResNet18;
  cfg.model.width = 4;
  cfg.model.small_input = true;
  cfg.data.batch_size = 4;
  cfg.train.strategy = train::StrategyKind::kPartial;
  cfg.train.unfreeze_last = 2;
  cfg.train.epochs = 2;
  if (c.rank() == 0) {
    models::BackboneSpec spec;
    spec.arch = "resnet18";
    spec.width = 4;
    spec.small_input = true;
    spec.in_channels = 1;
    models::Classifier m(models::make_backbone(spec), 3);
    torch::NoGradGuard g;
    for (auto& b : m->named_buffers(true)) {
      if (b.key().find("running_mean") != std::string::npos) b.value().fill_(3.0);
      if (b.key().find("running_var") != std::string::npos) b.value().fill_(0.01);
      if (b.key().find("num_batches_tracked") != std::string::npos) b.value().fill_(77);
    }
    models::save_state_dict(*m, init);
  }
  c.barrier();
  cfg.model.init = init;
  train::Trainer t(cfg, c);
  auto& model = *t.model();
  auto trains = [](const std::string& name) {
    return name.rfind("backbone.layer4.", 0) == 0 || name.rfind("head.", 0) == 0;
  };
  std::vector<std::pair<std::string, torch::Tensor>> before;
  for (const auto& [name, tensor] : models::state_dict_items(model)) {
    before.emplace_back(name, tensor.detach().clone());
  }
  int64_t trainable = 0;
  for (const auto& p : model.named_parameters(true)) {
    if (trains(p.key())) trainable += p.value().numel();
  }
  for (int64_t b = 0; b < t.reducer().num_buckets(); ++b) {
    for (const auto& n : t.reducer().bucket_param_names(b)) EXPECT_TRUE(trains(n)) << n;
  }
  EXPECT_EQ(t.reducer().total_numel(), trainable);
  t.run();
  EXPECT_EQ(t.reducer().last_step().all_reduce_bytes, c.world_size() == 1 ? 0 : 4 * trainable);
  const auto after = models::state_dict_items(model);
  ASSERT_EQ(after.size(), before.size());
  for (const auto& p : model.parameters()) ASSERT_EQ(p.device(), target.device);
  bool layer4_stats_moved = false;
  for (size_t i = 0; i < after.size(); ++i) {
    const auto& [name, tensor] = after[i];
    const bool same = torch::equal(tensor.cpu(), before[i].second.cpu());
    if (!trains(name)) {
      EXPECT_TRUE(same) << name << " is frozen but changed";
    } else if (name.find("running_mean") != std::string::npos) {
      layer4_stats_moved = layer4_stats_moved || !same;
    }
  }
  EXPECT_TRUE(layer4_stats_moved) << "layer4's BatchNorm did not run in train mode";
  EXPECT_FALSE(torch::equal(model.head->weight.cpu(), before[before.size() - 2].second.cpu()));
  for (const auto& p : model.named_parameters(true)) {
    EXPECT_EQ(t.optimizer().state().count(p.value().unsafeGetTensorImpl()),
              trains(p.key()) ? 1u : 0u)
        << p.key();
  }
  EXPECT_TRUE(same_on_all_ranks(digest(model)));
}

TEST(StrategyPhases, PartialKeepsFrozenBlocksAndTheirBatchNormBitwiseAnyWorld) {
  expect_partial_keeps_frozen_blocks(cpu_target());
}
TEST(GpuStrategyPhases, PartialKeepsFrozenBlocksAndTheirBatchNormBitwiseAnyWorld) {
  FROST_GPU_TARGET_OR_SKIP(target);
  expect_partial_keeps_frozen_blocks(target);
}

// Resume across a change of what trains: run A trains 10 steps straight (4 steps per epoch, the
// switch at step 5); run B dies at step 6 and resumes from its latest checkpoint: step 4 (the
// end of the first phase: its optimizer state is the first phase's) or step 5 (inside the
// second). Both end with parameters, optimizer state and model.pt bitwise A's.
void expect_resume_across_the_switch(train::Config cfg, const std::string& dir, int64_t every) {
  auto& c = world();
  cfg.train.epochs = 3;
  cfg.train.max_steps = 10;
  cfg.data.batch_size = 3;
  cfg.checkpoint.every_steps = every;
  cfg.log.dir = dir + "/a";
  train::Trainer a(cfg, c);
  ASSERT_EQ(a.steps_per_epoch(), 4);
  a.run();

  cfg.log.dir = dir + "/b";
  ::setenv("FROST_FAULT_INJECT", "rank=*,at=step:6", 1);
  {
    train::Trainer b1(cfg, c);
    EXPECT_THROW(b1.run(), Error);
  }
  ::unsetenv("FROST_FAULT_INJECT");
  c.barrier();
  cfg.resume = "auto";
  train::Trainer b2(cfg, c);
  b2.run();
  EXPECT_EQ(b2.global_step(), 10);
  EXPECT_EQ(digest(*a.model()), digest(*b2.model())) << "parameters differ";
  auto pa = a.model()->parameters(), pb = b2.model()->parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    auto& sa = a.optimizer().state();
    auto& sb = b2.optimizer().state();
    ASSERT_EQ(sa.count(pa[i].unsafeGetTensorImpl()), sb.count(pb[i].unsafeGetTensorImpl()));
    if (sa.count(pa[i].unsafeGetTensorImpl()) == 0) continue;
    auto& ma = static_cast<torch::optim::SGDParamState&>(*sa.at(pa[i].unsafeGetTensorImpl()));
    auto& mb = static_cast<torch::optim::SGDParamState&>(*sb.at(pb[i].unsafeGetTensorImpl()));
    EXPECT_TRUE(torch::equal(ma.momentum_buffer(), mb.momentum_buffer())) << "momentum " << i;
  }
  if (c.rank() == 0) {
    EXPECT_EQ(file_bytes(dir + "/a/model.pt"), file_bytes(dir + "/b/model.pt"))
        << "model.pt differs";
    const auto ra = rows_of(dir + "/a/metrics.jsonl", "train");
    const auto rb = rows_of(dir + "/b/metrics.jsonl", "train");
    ASSERT_EQ(ra.size(), 10u);
    ASSERT_EQ(rb.size(), static_cast<size_t>(5 + 10 - every));  // steps before the fault + after
    for (size_t i = 0; i < 10 - static_cast<size_t>(every); ++i) {
      const auto& x = ra[static_cast<size_t>(every) + i];
      const auto& y = rb[5 + i];
      EXPECT_EQ(x["step"], y["step"]);
      EXPECT_EQ(x["loss"].get<double>(), y["loss"].get<double>()) << "step " << x["step"];
      EXPECT_EQ(x["strategy"], y["strategy"]);
    }
  }
}

TEST(StrategyPhases, ResumeAcrossTheLpFtSwitchIsBitwiseWithResetAndKeepAnyWorld) {
  auto& c = world();
  for (const auto state : {train::LpFtOptimizerState::kReset, train::LpFtOptimizerState::kKeep}) {
    for (const int64_t every : {4, 5}) {
      const std::string name = std::string("lpft-resume-") + train::to_string(state) + "-" +
                               std::to_string(every);
      const std::string dir = job_dir(name);
      const std::string data = write_features(dir + "/train.h5", 12 * c.world_size(), 12, 3);
      auto cfg = small_config(data, dir + "/a");
      cfg.train.strategy = train::StrategyKind::kLpFt;
      cfg.train.lp_epochs = 1;
      cfg.train.lp_ft_optimizer_state = state;
      SCOPED_TRACE(name);
      expect_resume_across_the_switch(cfg, dir, every);
    }
  }
}

TEST(StrategyPhases, ResumeAcrossAnUnfreezeIsBitwiseAnyWorld) {
  auto& c = world();
  for (const int64_t every : {4, 5}) {
    const std::string name = "gradual-resume-" + std::to_string(every);
    const std::string dir = job_dir(name);
    const std::string data = write_features(dir + "/train.h5", 12 * c.world_size(), 12, 3);
    auto cfg = small_config(data, dir + "/a");
    cfg.train.strategy = train::StrategyKind::kPartial;
    cfg.train.unfreeze_last = 1;
    cfg.train.unfreeze_every = 1;
    SCOPED_TRACE(name);
    expect_resume_across_the_switch(cfg, dir, every);
  }
}

}  // namespace
}  // namespace frost::testing
