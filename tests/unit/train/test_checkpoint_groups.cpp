// Resuming checkpoints across optimizer parameter groups (Note [Parameter groups] in
// frost/train/optimizer.h): a checkpoint written before optim.no_decay existed (one group, weight
// decay on everything) is refused under the new default with a message that says how to resume
// it, and resumes bit for bit under optim.no_decay = none.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "frost/core/fs.h"
#include "frost/models/models.h"
#include "frost/models/pickle_file.h"
#include "frost/train/checkpoint.h"
#include "frost/train/optimizer.h"
#include "test_util.h"

namespace frost::train {
namespace {

models::Classifier small_mlp() {
  torch::manual_seed(11);
  models::BackboneSpec spec;
  spec.arch = "mlp";
  spec.in_features = 6;
  spec.hidden = {5};
  return models::Classifier(models::make_backbone(spec), 3);
}

void train_steps(models::ClassifierImpl& model, torch::optim::Optimizer& optimizer, int steps) {
  for (int s = 0; s < steps; ++s) {
    torch::manual_seed(100 + s);
    const auto x = torch::randn({4, 6});
    const auto y = torch::randint(0, 3, {4}, torch::kInt64);
    for (auto& p : model.parameters()) p.mutable_grad() = torch::Tensor();
    torch::nn::functional::cross_entropy(model.forward(x), y).backward();
    set_learning_rate(optimizer, 0.05);
    optimizer.step();
  }
}

// The config.ini of a Frost that did not know optim.no_decay: the line removed.
std::string without_no_decay(const std::string& ini) {
  std::string out, line;
  std::istringstream in(ini);
  while (std::getline(in, line))
    if (line.rfind("no_decay = ", 0) != 0) out += line + "\n";
  return out;
}

TEST(CheckpointGroups, ACheckpointFromBeforeNoDecayNeedsNone) {
  Config cfg;
  cfg.log.dir = testing::tmp_path("checkpoint_groups");
  fs::remove_tree(cfg.log.dir);  // not std::filesystem::remove_all (frost/core/fs.h)
  cfg.optim.lr = 0.05;
  cfg.optim.weight_decay = 0.1;
  cfg.optim.no_decay = NoDecay::kNone;  // what runs before the key did: one group
  auto model = small_mlp();
  auto optimizer = make_optimizer(cfg.optim, *model);
  ASSERT_EQ(optimizer->param_groups().size(), 1u);
  train_steps(*model, *optimizer, 2);
  save_checkpoint(cfg, 0, 1, *model, *optimizer, RunPosition{2, 0, 2}, fault::Plan{});
  // Rewrite the checkpoint as an older Frost wrote it: its config without optim.no_decay.
  const std::string path = checkpoint_dir(cfg) + "/step-000000002.pt";
  auto dict = models::load_pickle_file(path).toGenericDict();
  dict.insert_or_assign("config", without_no_decay(dict.at("config").toStringRef()));
  ASSERT_EQ(dict.at("config").toStringRef().find("no_decay"), std::string::npos);
  const std::vector<char> bytes = models::save_pickle_bytes(c10::IValue(dict));
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

  // The run continues 2 more steps: the reference.
  train_steps(*model, *optimizer, 2);

  // Resuming with the default (bias,norm) is refused, naming the fix.
  Config now = cfg;
  now.optim.no_decay = NoDecay::kBiasNorm;
  now.resume = "auto";
  {
    auto m = small_mlp();
    auto o = make_optimizer(now.optim, *m);
    testing::expect_error(
        [&] { load_checkpoint(now, 0, 1, *m, *o); },
        {"--resume", "was written with another config",
         "now optim.no_decay = bias,norm (the checkpoint predates this key and ran as "
         "optim.no_decay = none; set optim.no_decay = none to resume it)"});
  }
  // With optim.no_decay = none it resumes, and 2 steps later equals the run that went on.
  now.optim.no_decay = NoDecay::kNone;
  auto m = small_mlp();
  auto o = make_optimizer(now.optim, *m);
  const auto position = load_checkpoint(now, 0, 1, *m, *o);
  ASSERT_TRUE(position.has_value());
  EXPECT_EQ(position->global_step, 2);
  train_steps(*m, *o, 2);
  const auto a = model->named_parameters(), b = m->named_parameters();
  for (const auto& item : a)
    EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
}

}  // namespace
}  // namespace frost::train
