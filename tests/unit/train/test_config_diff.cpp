// Unit tests of config_diff (frost/train/checkpoint.h): what makes a checkpoint's config differ
// from the resuming run's, including checkpoints written before a config key existed.
#include <gtest/gtest.h>

#include <string>

#include "frost/train/checkpoint.h"
#include "frost/train/config.h"

namespace frost::train {
namespace {

// The text of `ini` without the line of `key` ("section.key"): a config.ini as a Frost that did
// not know the key yet wrote it.
std::string without_key(const std::string& ini, const std::string& section, const std::string& key) {
  std::string out, line, current;
  size_t pos = 0;
  while (pos < ini.size()) {
    const size_t end = ini.find('\n', pos);
    line = ini.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? ini.size() : end + 1;
    if (!line.empty() && line[0] == '[') current = line.substr(1, line.size() - 2);
    if (current == section && line.rfind(key + " = ", 0) == 0) continue;
    out += line + "\n";
  }
  return out;
}

TEST(ConfigDiff, SameConfigAndIgnoredKeysGiveNothing) {
  Config a;
  Config b = a;
  b.log.every = 7;
  b.train.threads = 3;
  EXPECT_EQ(config_diff(a.to_ini(), b.to_ini(), Config{}.to_ini()), "");
}

TEST(ConfigDiff, AChangedKeyIsNamedOnBothSides) {
  Config a;
  Config b = a;
  b.optim.lr = 0.5;
  const std::string d = config_diff(a.to_ini(), b.to_ini(), Config{}.to_ini());
  EXPECT_NE(d.find("checkpoint has optim.lr = 0.1"), std::string::npos) << d;
  EXPECT_NE(d.find("now optim.lr = 0.5"), std::string::npos) << d;
}

// A checkpoint written before model.channels_last existed resumes when the run keeps the key's
// default, and is refused, saying why, when the run sets another value.
TEST(ConfigDiff, AKeyNewerThanTheCheckpointCountsAsItsDefault) {
  Config now;
  const std::string old = without_key(now.to_ini(), "model", "channels_last");
  ASSERT_EQ(old.find("channels_last"), std::string::npos) << old;
  EXPECT_EQ(config_diff(old, now.to_ini(), Config{}.to_ini()), "");
  // Strict comparison (no defaults) still names it.
  EXPECT_NE(config_diff(old, now.to_ini()).find("now model.channels_last = auto"),
            std::string::npos);
  now.model.channels_last = ChannelsLast::kOn;
  const std::string d = config_diff(old, now.to_ini(), Config{}.to_ini());
  EXPECT_NE(d.find("now model.channels_last = on (the checkpoint predates this key, which it ran "
                   "with at its default auto)"),
            std::string::npos)
      << d;
}

// A key the checkpoint has and this Frost does not (a key removed since) is a difference.
TEST(ConfigDiff, AKeyUnknownNowIsNamed) {
  Config now;
  const std::string saved = now.to_ini() + "[optim]\nlookahead = 5\n";
  EXPECT_NE(config_diff(saved, now.to_ini(), Config{}.to_ini())
                .find("checkpoint has optim.lookahead = 5"),
            std::string::npos);
}

}  // namespace
// optim.no_decay's default (bias,norm) changed what runs do: a checkpoint written before the key
// decayed everything, so it counts as none. Resuming it with the default is refused, saying how
// to resume; with none it resumes.
TEST(ConfigDiff, ACheckpointBeforeNoDecayRanWithNone) {
  Config now;
  ASSERT_EQ(now.optim.no_decay, NoDecay::kBiasNorm);
  const std::string old = without_key(now.to_ini(), "optim", "no_decay");
  ASSERT_EQ(old.find("no_decay"), std::string::npos) << old;
  const std::string d = config_diff(old, now.to_ini(), Config{}.to_ini());
  EXPECT_NE(d.find("now optim.no_decay = bias,norm (the checkpoint predates this key and ran as "
                   "optim.no_decay = none; set optim.no_decay = none to resume it)"),
            std::string::npos)
      << d;
  now.optim.no_decay = NoDecay::kNone;
  EXPECT_EQ(config_diff(old, now.to_ini(), Config{}.to_ini()), "");
  // A checkpoint that has the key compares as any key does.
  EXPECT_EQ(config_diff(now.to_ini(), now.to_ini(), Config{}.to_ini()), "");
}

// The other new [optim] keys keep the behaviour from before them at their defaults.
TEST(ConfigDiff, NewOptimKeysAtTheirDefaultsResumeOlderCheckpoints) {
  Config now;
  now.optim.no_decay = NoDecay::kNone;
  std::string old = now.to_ini();
  for (const char* key : {"no_decay", "head_lr", "layer_decay", "label_smoothing", "lr_scaling",
                          "lr_ref_batch"})
    old = without_key(old, "optim", key);
  EXPECT_EQ(config_diff(old, now.to_ini(), Config{}.to_ini()), "");
  now.optim.layer_decay = 0.7;
  EXPECT_NE(config_diff(old, now.to_ini(), Config{}.to_ini()).find("now optim.layer_decay = 0.7"),
            std::string::npos);
}

}  // namespace frost::train
