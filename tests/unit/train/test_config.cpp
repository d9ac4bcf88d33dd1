// Unit tests of the configuration (Boost.Program_options INI + command line) and LR schedule.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "frost/core/error.h"
#include "frost/train/config.h"
#include "frost/train/lr_schedule.h"
#include "test_util.h"

namespace frost::train {
namespace {

std::string write_ini(const std::string& name, const std::string& text) {
  const std::string dir = frost::testing::test_tmpdir() + "/config";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

ParseResult parse(std::vector<std::string> args) {
  args.insert(args.begin(), "frost-train");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  return parse_args(static_cast<int>(argv.size()), argv.data());
}

std::string error_of(std::vector<std::string> args) {
  try {
    parse(std::move(args));
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Config, FileValuesAndCommandLineOverrides) {
  const auto ini = write_ini("a.ini",
                             "[model]\nbackbone = mlp\n[data]\ntrain = x.h5\nbatch_size = 16\n"
                             "[train]\nepochs = 4\nstrategy = head\n[optim]\nlr = 0.25\n");
  const auto r = parse({"--config", ini, "--train.epochs", "7"});
  EXPECT_EQ(r.config.model.backbone, BackboneKind::kMlp);
  EXPECT_EQ(r.config.data.batch_size, 16);
  EXPECT_EQ(r.config.train.epochs, 7);  // the command line wins over the file
  EXPECT_EQ(r.config.train.strategy, StrategyKind::kHead);
  EXPECT_DOUBLE_EQ(r.config.optim.lr, 0.25);
  EXPECT_EQ(r.config.optim.name, OptimizerKind::kSgd);  // default
}

TEST(Config, UnknownKeySuggestsTheClosestOne) {
  const std::string cli = error_of({"--data.train", "x.h5", "--optim.learning_rat", "0.1"});
  EXPECT_NE(cli.find("unknown option '--optim.learning_rat'"), std::string::npos) << cli;
  const std::string close = error_of({"--data.train", "x.h5", "--train.epoch", "2"});
  EXPECT_NE(close.find("did you mean 'train.epochs'"), std::string::npos) << close;
  const auto ini = write_ini("b.ini", "[data]\ntrain = x.h5\nbatch = 3\n");
  const std::string file = error_of({"--config", ini});
  EXPECT_NE(file.find("b.ini': unknown key 'data.batch'"), std::string::npos) << file;
}

// lp-ft and partial (Note [Strategy phases] in strategy.h): one clear error per bad combination.
TEST(Config, StrategyPhaseKeysAreValidated) {
  const auto lp = parse({"--data.train", "x", "--train.strategy", "lp-ft", "--train.epochs", "3",
                         "--train.lp_epochs", "2", "--train.lp_ft_optimizer_state", "keep"});
  EXPECT_EQ(lp.config.train.strategy, StrategyKind::kLpFt);
  EXPECT_EQ(lp.config.train.lp_epochs, 2);
  EXPECT_EQ(lp.config.train.lp_ft_optimizer_state, LpFtOptimizerState::kKeep);
  EXPECT_EQ(Config{}.train.lp_ft_optimizer_state, LpFtOptimizerState::kReset);  // the default
  EXPECT_EQ(error_of({"--data.train", "x", "--train.strategy", "lp-ft", "--train.epochs", "2",
                      "--train.lp_epochs", "2"}),
            "config key train.lp_epochs = 2 must be < train.epochs = 2 with train.strategy = "
            "lp-ft (the full phase needs an epoch)");
  EXPECT_NE(error_of({"--data.train", "x", "--train.strategy", "lp-ft", "--train.epochs", "2",
                      "--train.lp_epochs", "0"})
                .find("train.lp_epochs must be >= 1, got 0"),
            std::string::npos);
  EXPECT_NE(error_of({"--data.train", "x", "--train.lp_ft_optimizer_state", "carry"})
                .find("train.lp_ft_optimizer_state = 'carry' is not one of: reset | keep"),
            std::string::npos);
  const auto partial = parse({"--data.train", "x", "--train.strategy", "partial",
                              "--train.unfreeze_last", "2", "--train.unfreeze_every", "1"});
  EXPECT_EQ(partial.config.train.strategy, StrategyKind::kPartial);
  EXPECT_EQ(partial.config.train.unfreeze_last, 2);
  EXPECT_EQ(partial.config.train.unfreeze_every, 1);
  EXPECT_EQ(error_of({"--data.train", "x", "--train.strategy", "partial"}),
            "train.strategy = partial needs train.unfreeze_last >= 1 (the last K backbone blocks) "
            "or train.trainable (parameter name patterns)");
  EXPECT_EQ(error_of({"--data.train", "x", "--train.unfreeze_last", "2"}),
            "config key train.unfreeze_last = 2 needs train.strategy = partial, got full");
  EXPECT_EQ(error_of({"--data.train", "x", "--train.strategy", "head", "--train.trainable",
                      "backbone.*"}),
            "config key train.trainable = 'backbone.*' needs train.strategy = partial, got head");
  EXPECT_EQ(error_of({"--data.train", "x", "--train.strategy", "partial", "--train.trainable",
                      "backbone.layer4.*", "--train.unfreeze_every", "2"}),
            "config key train.unfreeze_every = 2 needs train.unfreeze_last >= 1 (the blocks that "
            "train from the first epoch)");
  EXPECT_NE(error_of({"--data.train", "x", "--train.strategy", "partial", "--train.unfreeze_last",
                      "-1"})
                .find("train.unfreeze_last must be >= 0, got -1"),
            std::string::npos);
  // The feature cache needs a backbone frozen in every epoch.
  for (const char* s : {"lp-ft", "partial"}) {
    EXPECT_NE(error_of({"--data.train", "x", "--train.strategy", s, "--train.epochs", "2",
                        "--train.unfreeze_last", std::string(s) == "partial" ? "1" : "0",
                        "--train.feature_cache", "memory"})
                  .find(std::string("needs train.strategy = head (with a trainable backbone the "
                                    "features change every step; lp-ft and partial train backbone "
                                    "parameters in some epochs), got train.strategy = ") + s),
              std::string::npos)
        << s;
  }
  EXPECT_NE(error_of({"--data.train", "x", "--train.strategy", "partial", "--train.unfreeze_last",
                      "1", "--model.backbone", "torchscript", "--model.torchscript", "m.pt"})
                .find("train.strategy = partial with model.backbone = torchscript"),
            std::string::npos);
}

TEST(Config, InvalidValuesNameTheKey) {
  EXPECT_NE(error_of({"--data.train", "x", "--optim.lr", "-0.1"}).find("optim.lr must be > 0"), std::string::npos);
  EXPECT_NE(error_of({"--data.train", "x", "--data.batch_size", "0"}).find("data.batch_size must be >= 1"),
            std::string::npos);
  EXPECT_NE(error_of({"--data.train", "x", "--train.grad_accum_steps", "0"}).find("train.grad_accum_steps must be >= 1"),
            std::string::npos);
  EXPECT_NE(error_of({"--data.train", "x", "--train.strategy", "lora"}).find("train.strategy = 'lora' is not one of"),
            std::string::npos);
  EXPECT_NE(error_of({"--data.train", "x", "--train.epochs", "two"}).find("train.epochs"), std::string::npos);
  EXPECT_NE(error_of({}).find("data.train is empty"), std::string::npos);
  EXPECT_NE(error_of({"--data.train", "x", "--train.feature_cache", "memory"}).find("needs train.strategy = head"),
            std::string::npos);
  EXPECT_NE(error_of({"--config", "/nonexistent/x.ini"}).find("cannot open config file '/nonexistent/x.ini'"),
            std::string::npos);
  // fp16 on a CPU that the config names is refused before anything loads (auto is decided
  // later, by the devices the ranks see).
  EXPECT_NE(error_of({"--data.train", "x", "--train.device", "cpu", "--train.precision", "fp16"})
                .find("train.precision = fp16 needs CUDA devices, but train.device = cpu"),
            std::string::npos);
  EXPECT_EQ(error_of({"--data.train", "x", "--train.device", "auto", "--train.precision", "fp16"}),
            "(no error)");
}

TEST(Config, WeightsKeyNeedsWeights) {
  EXPECT_NE(error_of({"--data.train", "x", "--model.weights_key", "model"})
                .find("model.weights_key = model is set but model.weights is empty"),
            std::string::npos);
  const Config c =
      parse({"--data.train", "x", "--model.weights", "a.pth", "--model.weights_key", "model"})
          .config;
  EXPECT_EQ(c.model.weights_key, "model");
}

// Found by fuzz_config: Boost.Program_options 1.74 fills %value%, %canonical_option%,
// %invalid_line%, ... into its error templates in a loop that never ends when the user's text
// itself holds such a placeholder, so a bad value like "%value%" hung frost-train. Every such
// error must come back, name the key or line, and show the text.
TEST(Config, PlaceholdersInBadInputGiveAnErrorNotAHang) {
  const std::vector<std::pair<std::string, std::string>> values = {  // (value, a part the message shows)
      {"%value%", "value"}, {"man%value%'\xff\xffy", "man"}, {"%canonical_option%", "canonical_option"},
      {"%option%x%value%", "x%"}};
  for (const auto& [value, shown] : values) {
    const std::string cli = error_of({"--data.train", "x", "--train.epochs", value});
    EXPECT_NE(cli.find("train.epochs"), std::string::npos) << cli;
    EXPECT_NE(cli.find(shown), std::string::npos) << cli;
    const auto ini = write_ini("placeholder.ini", "[data]\ntrain = x.h5\n[train]\nepochs = " + value + "\n");
    const std::string file = error_of({"--config", ini});
    EXPECT_NE(file.find("placeholder.ini"), std::string::npos) << file;
    EXPECT_NE(file.find("epochs"), std::string::npos) << file;
  }
  const auto bad_line = write_ini("line.ini", "[train]\n%invalid_line%\n");
  const std::string line = error_of({"--config", bad_line});
  EXPECT_NE(line.find("line.ini"), std::string::npos) << line;
  EXPECT_NE(line.find("invalid_line"), std::string::npos) << line;
  const std::string bool_value = error_of({"--data.train", "x", "--log.overwrite", "%value%"});
  EXPECT_NE(bool_value.find("log.overwrite"), std::string::npos) << bool_value;
}

// Found by a user: huge timeouts overflowed to a negative millisecond count and every
// collective "timed out" at once; inf/NaN values and trailing commas were accepted.
TEST(Config, NonFiniteOrOutOfRangeNumbersAreRejected) {
  for (const char* t : {"1e10", "inf", "nan", "0.0001"}) {
    const std::string e = error_of({"--data.train", "x", "--dist.timeout_s", t});
    EXPECT_NE(e.find("dist.timeout_s must be in [0.01, 1e+06]"), std::string::npos) << t << ": " << e;
  }
  EXPECT_NE(error_of({"--data.train", "x", "--optim.lr", "inf"}).find("optim.lr must be > 0"), std::string::npos);
  EXPECT_NE(error_of({"--data.train", "x", "--optim.weight_decay", "nan"}).find("optim.weight_decay"),
            std::string::npos);
  EXPECT_NE(error_of({"--data.train", "x", "--model.backbone", "mlp", "--model.mlp_hidden", "16,"})
                .find("model.mlp_hidden"),
            std::string::npos);
  EXPECT_NE(error_of({"--data.train", "x", "--train.seed", "-1"}).find("train.seed"), std::string::npos);
}

// Found by a user: "frost-train configs/x.ini" (no --config) silently ignored the file.
TEST(Config, PositionalArgumentsAreAnError) {
  const std::string e = error_of({"configs/x.ini"});
  EXPECT_NE(e.find("unexpected argument 'configs/x.ini'"), std::string::npos) << e;
  EXPECT_NE(e.find("--config configs/x.ini"), std::string::npos) << e;
}

// True when `text` holds a byte outside printable ASCII (control bytes, raw binary).
bool has_raw_bytes(const std::string& text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7E) return true;
  }
  return false;
}

// Found by a user: a binary file given as --config was echoed raw in the error (control bytes,
// cut at its first NUL) and no line was named. Errors about the file name it and the line, and
// quote the file's bytes escaped.
TEST(Config, BinaryConfigFileNamesTheLineAndEscapesIt) {
  const auto no_equals =
      write_ini("blob.ini", std::string("\x7F" "ELF\x02\x01\x01\0\0\x1B[2J\n", 14));
  const std::string blob = error_of({"--config", no_equals});
  EXPECT_NE(blob.find("config file '" + no_equals + "': line 1 is not 'key = value'"),
            std::string::npos)
      << blob;
  EXPECT_NE(blob.find("'\\x7FELF\\x02\\x01\\x01\\x00\\x00\\x1B[2J'"), std::string::npos) << blob;
  EXPECT_FALSE(has_raw_bytes(blob)) << blob;

  const auto with_equals = write_ini("blob2.ini", std::string("\n\n\xFF\xFE\x01=\x02\0\n", 9));
  const std::string key = error_of({"--config", with_equals});
  EXPECT_NE(key.find("blob2.ini': unknown key '\\xFF\\xFE\\x01' on line 3"), std::string::npos)
      << key;
  EXPECT_FALSE(has_raw_bytes(key)) << key;

  // A long binary line is quoted in part.
  const auto long_line = write_ini("blob3.ini", std::string(5000, '\x01'));
  const std::string cut = error_of({"--config", long_line});
  EXPECT_NE(cut.find("line 1 is not"), std::string::npos) << cut;
  EXPECT_LT(cut.size(), 1000u) << cut;
}

TEST(Config, ConfigFileErrorsNameTheLine) {
  const auto bad_line =
      write_ini("bad_line.ini", "# a comment\n[data]\ntrain = x.h5\n\nthis is no option\n");
  const std::string line = error_of({"--config", bad_line});
  EXPECT_NE(line.find("bad_line.ini': line 5 is not 'key = value', '[section]' or a '#' comment: "
                      "'this is no option'"),
            std::string::npos)
      << line;
  const auto unknown = write_ini("unknown.ini", "[data]\ntrain = x.h5\nbach_size = 3\n");
  const std::string key = error_of({"--config", unknown});
  EXPECT_NE(key.find("unknown.ini': unknown key 'data.bach_size' on line 3 "
                     "(did you mean 'data.batch_size'?)"),
            std::string::npos)
      << key;
  const auto bad_value =
      write_ini("bad_value.ini", "[data]\ntrain = x.h5\n[train]\nepochs = tw\x1Bo\n");
  const std::string value = error_of({"--config", bad_value});
  EXPECT_NE(value.find("bad_value.ini': line 4: the argument ('tw\\x1Bo') for option "
                       "'train.epochs' is invalid"),
            std::string::npos)
      << value;
  const auto twice = write_ini("twice.ini", "[train]\nepochs = 2\n\n[train]\nepochs = 3\n");
  const std::string repeated = error_of({"--data.train", "x", "--config", twice});
  EXPECT_NE(repeated.find("twice.ini': lines 2, 5: "), std::string::npos) << repeated;
}

TEST(Config, CommandLineErrorsEscapeControlBytes) {
  const std::string option = error_of({"--data.train", "x", "--optim.l\x1B[2Jr", "1"});
  EXPECT_NE(option.find("unknown option '--optim.l\\x1B[2Jr'"), std::string::npos) << option;
  const std::string value = error_of({"--data.train", "x", "--train.epochs", "3\x07"});
  EXPECT_NE(value.find("the argument ('3\\x07') for option '--train.epochs' is invalid"),
            std::string::npos)
      << value;
  const std::string word = error_of({"x\x01.ini"});
  EXPECT_NE(word.find("unexpected argument 'x\\x01.ini'"), std::string::npos) << word;
  for (const auto& e : {option, value, word}) EXPECT_FALSE(has_raw_bytes(e)) << e;
}

TEST(Config, HelpListsEveryKeyAndIniRoundTrips) {
  const auto r = parse({"--help"});
  ASSERT_TRUE(r.help);
  for (const auto& key : option_keys()) EXPECT_NE(r.help_text.find("--" + key), std::string::npos) << key;
  // to_ini() parses back to the same configuration.
  auto first = parse({"--data.train", "a.h5", "--optim.lr", "0.125", "--model.small_input", "true"}).config;
  const auto ini = write_ini("round.ini", first.to_ini());
  auto second = parse({"--config", ini}).config;
  second.config_file.clear();
  first.config_file.clear();
  EXPECT_EQ(first.to_ini(), second.to_ini());
  EXPECT_TRUE(second.model.small_input);
  // Defaults print as people write them (shortest form that reads back exactly).
  EXPECT_NE(r.help_text.find("(=0.0005)"), std::string::npos);
  EXPECT_EQ(r.help_text.find("0.00050000000000000001"), std::string::npos);
}

// Found while writing the config fuzz target (tests/fuzz/fuzz_config.cpp): a subnormal value
// such as optim.eps = 1e-310 passed validate(), then to_ini() (config.ini, the cross-rank
// hash) threw std::out_of_range("stod") because std::stod reports underflow as an error.
TEST(Config, SubnormalNumbersWriteAndReadBack) {
  for (const char* v : {"1e-310", "4.9406564584124654e-324", "2.2250738585072009e-308"}) {
    const auto ini = write_ini("subnormal.ini", std::string("[data]\ntrain = x.h5\n[optim]\neps = ") +
                                                    v + "\ngrad_clip = " + v + "\n");
    const Config first = parse({"--config", ini}).config;
    std::string text;
    ASSERT_NO_THROW(text = first.to_ini()) << v;
    const Config second = parse({"--config", write_ini("subnormal2.ini", text)}).config;
    EXPECT_EQ(second.optim.eps, first.optim.eps) << v;
    EXPECT_EQ(second.optim.grad_clip, first.optim.grad_clip) << v;
    EXPECT_EQ(second.to_ini(), text) << v;
  }
}

// model.channels_last (Note [channels_last] in model_setup.h): auto follows the device, on/off
// are kept for ResNets, every other backbone runs contiguous, and on with one is refused.
TEST(Config, ChannelsLastResolvesPerDeviceAndBackbone) {
  const Config defaults = parse({"--data.train", "x"}).config;
  EXPECT_EQ(defaults.model.channels_last, ChannelsLast::kAuto);
  EXPECT_NE(defaults.to_ini().find("channels_last = auto"), std::string::npos);
  ModelConfig m;
  for (const BackboneKind b :
       {BackboneKind::kResNet18, BackboneKind::kResNet34, BackboneKind::kResNet50}) {
    m.backbone = b;
    m.channels_last = ChannelsLast::kAuto;
    EXPECT_TRUE(channels_last_enabled(m, /*cuda=*/true)) << to_string(b);
    EXPECT_FALSE(channels_last_enabled(m, /*cuda=*/false)) << to_string(b) << ": not faster on the CPU";
    m.channels_last = ChannelsLast::kOn;
    EXPECT_TRUE(channels_last_enabled(m, true));
    EXPECT_TRUE(channels_last_enabled(m, false));
    m.channels_last = ChannelsLast::kOff;
    EXPECT_FALSE(channels_last_enabled(m, true));
    EXPECT_FALSE(channels_last_enabled(m, false));
  }
  for (const BackboneKind b : {BackboneKind::kMlp, BackboneKind::kBert, BackboneKind::kTorchScript}) {
    m.backbone = b;
    for (const ChannelsLast c : {ChannelsLast::kAuto, ChannelsLast::kOn, ChannelsLast::kOff}) {
      m.channels_last = c;
      EXPECT_FALSE(channels_last_enabled(m, true)) << to_string(b) << " " << to_string(c);
      EXPECT_FALSE(channels_last_enabled(m, false)) << to_string(b) << " " << to_string(c);
    }
  }
  const Config on = parse({"--data.train", "x", "--model.channels_last", "on"}).config;
  EXPECT_EQ(on.model.channels_last, ChannelsLast::kOn);
  EXPECT_EQ(error_of({"--data.train", "x", "--model.channels_last", "nhwc"}),
            "config key model.channels_last = 'nhwc' is not one of: auto | on | off");
  EXPECT_EQ(error_of({"--data.train", "x", "--model.backbone", "mlp", "--model.channels_last", "on"}),
            "config key model.channels_last = on needs a ResNet backbone (resnet18 | resnet34 | "
            "resnet50), but model.backbone = mlp: channels_last is a layout of convolution "
            "inputs; use auto or off");
  EXPECT_EQ(error_of({"--data.train", "x", "--model.backbone", "mlp", "--model.channels_last", "off"}),
            "(no error)");
  EXPECT_NE(parse({"--help"}).help_text.find("model.channels_last"), std::string::npos);
}

TEST(Config, EditDistance) {
  EXPECT_EQ(edit_distance("train.epoch", "train.epochs"), 1);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3);
  EXPECT_EQ(edit_distance("", "abc"), 3);
}

TEST(Schedule, LinearWarmupThenCosineToMinLr) {
  OptimConfig o;
  o.lr = 1.0;
  o.min_lr = 0.1;
  o.warmup_steps = 4;
  o.schedule = LrSchedule::kCosine;
  EXPECT_DOUBLE_EQ(lr_at(o, 0, 20), 0.25);
  EXPECT_DOUBLE_EQ(lr_at(o, 3, 20), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(o, 4, 20), 1.0);  // cosine starts at the peak
  EXPECT_NEAR(lr_at(o, 12, 20), 0.1 + 0.45 * (1 + std::cos(M_PI * 0.5)), 1e-12);
  EXPECT_NEAR(lr_at(o, 20, 20), 0.1, 1e-12);
  o.schedule = LrSchedule::kConstant;
  EXPECT_DOUBLE_EQ(lr_at(o, 15, 20), 1.0);
  o.warmup_steps = 0;
  o.warmup_frac = 0.5;  // 10 of 20 steps
  EXPECT_DOUBLE_EQ(lr_at(o, 4, 20), 0.5);
}

}  // namespace
// optim.lr_scaling: the factor for a global batch B against optim.lr_ref_batch, applied to lr,
// head_lr and min_lr, and the start-up line.
TEST(Schedule, LrScalingForTheGlobalBatch) {
  OptimConfig o;
  o.lr = 0.1;
  o.head_lr = 1.0;
  o.min_lr = 0.01;
  o.lr_ref_batch = 256;
  EXPECT_EQ(lr_batch_factor(o, 128), 1.0);  // none
  o.lr_scaling = LrScaling::kLinear;
  EXPECT_EQ(lr_batch_factor(o, 128), 0.5);
  EXPECT_EQ(lr_batch_factor(o, 1024), 4.0);
  o.lr_scaling = LrScaling::kSqrt;
  EXPECT_EQ(lr_batch_factor(o, 1024), 2.0);
  EXPECT_DOUBLE_EQ(lr_batch_factor(o, 128), std::sqrt(0.5));
  o.lr_scaling = LrScaling::kLinear;
  const OptimConfig s = scaled_for_batch(o, 128);
  EXPECT_DOUBLE_EQ(s.lr, 0.05);
  EXPECT_DOUBLE_EQ(s.head_lr, 0.5);
  EXPECT_DOUBLE_EQ(s.min_lr, 0.005);
  EXPECT_EQ(s.lr_scaling, LrScaling::kNone);
  EXPECT_EQ(scaled_for_batch(s, 128).lr, s.lr);  // scaling a scaled config changes nothing
  EXPECT_DOUBLE_EQ(lr_at(s, 0, 10), 0.05);       // the schedule's peak is the scaled lr
  EXPECT_EQ(lr_scaling_summary(o, 128),
            "optim.lr 0.1 scaled linear x 0.5 for global batch 128 / 256 -> 0.05; optim.head_lr 1 "
            "-> 0.5; optim.min_lr 0.01 -> 0.005");
  o.lr_scaling = LrScaling::kNone;
  EXPECT_EQ(lr_scaling_summary(o, 128), "optim.lr 0.1 (optim.lr_scaling = none; global batch 128)");
  EXPECT_THROW(lr_batch_factor(o, 0), Error);
}

// The [optim] keys of parameter groups, label smoothing and scaling: parsed, defaults, ranges.
TEST(Config, OptimGroupKeys) {
  const auto d = parse({"--data.train", "x.h5"}).config.optim;
  EXPECT_EQ(d.head_lr, 0.0);
  EXPECT_EQ(d.layer_decay, 1.0);
  EXPECT_EQ(d.no_decay, NoDecay::kBiasNorm);
  EXPECT_EQ(d.label_smoothing, 0.0);
  EXPECT_EQ(d.lr_scaling, LrScaling::kNone);
  EXPECT_EQ(d.lr_ref_batch, 256);
  const auto ini = write_ini("groups.ini",
                             "[data]\ntrain = x.h5\n[optim]\nno_decay = bias,norm\nhead_lr = 1\n"
                             "layer_decay = 0.65\nlabel_smoothing = 0.1\nlr_scaling = sqrt\n"
                             "lr_ref_batch = 512\n");
  const auto o = parse({"--config", ini, "--optim.no_decay", "none"}).config.optim;
  EXPECT_EQ(o.no_decay, NoDecay::kNone);
  EXPECT_EQ(o.head_lr, 1.0);
  EXPECT_EQ(o.layer_decay, 0.65);
  EXPECT_EQ(o.label_smoothing, 0.1);
  EXPECT_EQ(o.lr_scaling, LrScaling::kSqrt);
  EXPECT_EQ(o.lr_ref_batch, 512);
  EXPECT_EQ(parse({"--data.train", "x.h5", "--optim.no_decay", "bias"}).config.optim.no_decay,
            NoDecay::kBias);
  EXPECT_EQ(parse({"--config", ini}).config.optim.no_decay, NoDecay::kBiasNorm);
  EXPECT_NE(error_of({"--data.train", "x.h5", "--optim.no_decay", "norms"})
                .find("config key optim.no_decay = 'norms' is not one of: none | bias | norm | "
                      "bias,norm"),
            std::string::npos);
  EXPECT_NE(error_of({"--data.train", "x.h5", "--optim.lr_scaling", "log"}).find("linear | sqrt"),
            std::string::npos);
  for (const auto& [key, bad] : std::vector<std::pair<std::string, std::string>>{
           {"optim.head_lr", "-1"},
           {"optim.layer_decay", "0"},
           {"optim.layer_decay", "1.5"},
           {"optim.label_smoothing", "1"},
           {"optim.label_smoothing", "-0.1"},
           {"optim.lr_ref_batch", "0"}}) {
    EXPECT_NE(error_of({"--data.train", "x.h5", "--" + key, bad}).find("config key " + key),
              std::string::npos)
        << key << " = " << bad;
  }
  const std::string help = parse({"--help"}).help_text;
  for (const char* key : {"optim.head_lr", "optim.layer_decay", "optim.no_decay",
                          "optim.label_smoothing", "optim.lr_scaling", "optim.lr_ref_batch"})
    EXPECT_NE(help.find(std::string("--") + key), std::string::npos) << key;
  EXPECT_NE(help.find("(=bias,norm)"), std::string::npos);
}

}  // namespace frost::train
