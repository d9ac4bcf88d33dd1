// build_model (train/model_setup.h) with model.weights a torch.save checkpoint whose state dict
// sits under a key (model.weights_key): the config reaches load_weights.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "frost/core/fs.h"
#include "frost/models/models.h"
#include "frost/models/pickle_file.h"
#include "frost/train/config.h"
#include "frost/train/model_setup.h"
#include "test_util.h"

namespace frost::train {
namespace {

TEST(BuildModel, LoadsWeightsFromANestedTorchSaveCheckpointByKey) {
  data::DatasetInfo info;
  info.input_kind = data::InputKind::kFeatures;
  info.sample_shape = {4};
  info.num_samples = 8;
  info.num_classes = 2;
  Config cfg;
  cfg.data.train = "train.h5";
  cfg.model.backbone = BackboneKind::kMlp;
  cfg.model.mlp_hidden = "3";

  // {"model": <the backbone's state dict, values 0.5 * index>, "epoch": 3}
  auto source = models::make_backbone(backbone_spec(cfg, info));
  c10::impl::GenericDict state(c10::StringType::get(), c10::TensorType::get());
  float v = 0;
  for (const auto& [name, t] : models::state_dict_items(*source)) {
    state.insert(name, torch::arange(v, v + t.numel()).reshape(t.sizes()).mul(0.5));
    v += static_cast<float>(t.numel());
  }
  c10::impl::GenericDict checkpoint(c10::StringType::get(), c10::AnyType::get());
  checkpoint.insert("model", state);
  checkpoint.insert("epoch", 3);
  const std::string path = testing::test_dir() + "/checkpoint.pth";
  const std::vector<char> bytes = models::save_pickle_bytes(c10::IValue(checkpoint));
  fs::write_file_atomic(path, bytes.data(), bytes.size());

  cfg.model.weights = path;
  testing::expect_error([&] { build_model(cfg, info, 2, /*rank=*/1); },
                        {path, "state dicts are under 'model' (set model.weights_key = model)"});
  cfg.model.weights_key = "model";
  models::Classifier model = build_model(cfg, info, 2, /*rank=*/1);
  int64_t loaded = 0;
  for (const auto& [name, t] : models::state_dict_items(*model->backbone)) {
    EXPECT_TRUE(torch::equal(t, state.at(name).toTensor())) << name;
    ++loaded;
  }
  EXPECT_EQ(loaded, static_cast<int64_t>(state.size()));
}

}  // namespace
}  // namespace frost::train
