// frost-predict: the predictions of a finished run's model for every sample of a dataset file,
// under mpirun like frost-train.
//
//   mpirun -np 2 frost-predict --run RUN_DIR --data FILE.h5 --out predictions.csv [--probabilities]
//
// Top-down: the app runner (MPI, options on every rank, --help, the failure path: app_runner.h)
// -> the run's model (RUN_DIR/config.ini rebuilds it, RUN_DIR/model.pt fills it, as model.init
// does) -> the exact evaluation's pass over FILE (each rank scores its contiguous range once:
// Evaluator in train/evaluation.h), keeping each row's logits -> rank 0 gathers the rows in file
// order and writes the CSV atomically, and prints the evaluation line frost-train prints (the
// schema's /labels are the reference; docs/launch.md, "Predictions").
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "apps/app_runner.h"
#include "frost/comm/communicator.h"
#include "frost/core/cli.h"
#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/core/log.h"
#include "frost/core/strings.h"
#include "frost/data/class_names.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/h5_util.h"
#include "frost/data/sampler.h"
#include "frost/models/pickle_file.h"
#include "frost/train/augment.h"
#include "frost/train/config.h"
#include "frost/train/evaluation.h"
#include "frost/train/metrics.h"
#include "frost/train/model_setup.h"
#include "frost/train/placement.h"

namespace {

namespace po = boost::program_options;

struct PredictOptions {
  std::string run, data, out;
  bool probabilities = false;
  int64_t batch_size = 0;  // 0: the run's data.eval_batch_size
  std::string log_level = "info";
};

constexpr const char* kUsage =
    "usage: frost-predict --run RUN_DIR --data FILE.h5 --out PREDICTIONS.csv [--probabilities]\n"
    "\n"
    "Predicts the class of every sample of FILE with the model of a finished frost-train run\n"
    "(RUN_DIR/config.ini and RUN_DIR/model.pt), each rank scoring a contiguous range of FILE,\n"
    "and writes one CSV row per sample in file order: index, predicted_index, predicted (the\n"
    "class name when FILE names its classes, else the index) and with --probabilities the\n"
    "softmax probability of every class. Prints the evaluation line of frost-train against\n"
    "FILE's labels. A run of train.task = multilabel writes index and one 0/1 column per label\n"
    "(1: sigmoid >= 0.5) and with --probabilities p_<label> per label; regression writes index\n"
    "and the K predicted values (one column per target).\n\n";

po::options_description describe(PredictOptions& o) {
  po::options_description desc("Options");
  desc.add_options()("help,h", "print this help and exit")(
      "run", po::value<std::string>(&o.run), "run directory of frost-train (log.dir)")(
      "data", po::value<std::string>(&o.data),
      "HDF5 file(s) to predict: path, glob or comma-separated list, as data.test")(
      "out", po::value<std::string>(&o.out), "CSV file to write (atomically, by rank 0)")(
      "probabilities", po::bool_switch(&o.probabilities),
      "also write the softmax probability of every class (columns p_<class>)")(
      "batch-size", po::value<int64_t>(&o.batch_size)->default_value(0),
      "samples per rank per forward (0 = the run's data.eval_batch_size)")(
      "log-level", po::value<std::string>(&o.log_level)->default_value("info"),
      "trace | debug | info | warn | error");
  return desc;
}

std::optional<std::string> parse(int argc, char** argv, PredictOptions& o) {
  po::options_description desc = describe(o);
  po::variables_map vm;
  try {
    po::store(frost::cli::parse_strict(argc, argv, desc), vm);
    po::notify(vm);
  } catch (po::error& e) {
    throw frost::Error("command line: " + frost::printable(frost::cli::error_text(e)) +
                       "; see --help");
  }
  if (vm.count("help")) {
    std::ostringstream os;
    os << kUsage << desc;
    return os.str();
  }
  for (const auto& [name, value] : {std::pair<const char*, const std::string*>{"run", &o.run},
                                    {"data", &o.data},
                                    {"out", &o.out}}) {
    FROST_CHECK(!value->empty(), "--", name, " is required; see --help");
  }
  FROST_CHECK(o.batch_size >= 0, "--batch-size must be >= 0, got ", o.batch_size);
  return std::nullopt;
}

// What the K columns of a task are called in messages.
const char* task_columns(frost::data::Task task) {
  return task == frost::data::Task::kRegression ? "targets" : "labels";
}

// A CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180).
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

// The run's config, for predicting: the model comes from RUN_DIR/model.pt (as model.init, head
// included), not from pretrained weights; the evaluation runs on the --data file.
frost::train::Config run_config(const PredictOptions& o) {
  const std::string ini = o.run + "/config.ini";
  FROST_CHECK(std::filesystem::is_directory(o.run), "--run '", o.run,
              "' is not a directory (give the log.dir of a frost-train run)");
  FROST_CHECK(std::filesystem::is_regular_file(ini), "--run '", o.run, "': ", ini,
              " is missing (is it the log.dir of a frost-train run?)");
  const std::string model = o.run + "/model.pt";
  FROST_CHECK(std::filesystem::is_regular_file(model), "--run '", o.run, "': ", model,
              " is missing (the run did not finish)");
  const char* args[] = {"frost-predict", "--config", ini.c_str()};
  frost::train::Config cfg = frost::train::parse_args(3, args).config;
  if (cfg.model.backbone == frost::train::BackboneKind::kBert && cfg.model.hf_config.empty()) {
    cfg.model.hf_config =  // as backbone_spec finds it next to model.weights
        std::filesystem::path(cfg.model.weights).replace_filename("config.json").string();
  }
  cfg.model.weights.clear();
  cfg.model.init = model;
  cfg.model.init_head = true;
  cfg.data.test = o.data;
  cfg.train.feature_cache = frost::train::FeatureCacheMode::kOff;
  // Note [Normalisation record] in augment.h: the run's mean/std, not those of --data.
  frost::train::apply_normalisation_record(o.run, cfg);
  if (o.batch_size > 0) cfg.data.eval_batch_size = o.batch_size;
  return cfg;
}

// The classes of the model in `path` (rows of head.weight).
int64_t model_classes(const std::string& path) {
  const c10::IValue v = frost::models::load_pickle_file(path);
  FROST_CHECK(v.isGenericDict(), path, " is not a Frost model.pt");
  const auto d = v.toGenericDict();
  FROST_CHECK(d.contains("head.weight"), path, " has no head.weight: not a Frost model.pt");
  return d.at("head.weight").toTensor().size(0);
}

int predict(frost::comm::Communicator& comm, const PredictOptions& o) {
  using namespace frost;
  log::init(comm.rank(), comm.world_size(), o.log_level);
  const int rank = comm.rank(), world = comm.world_size();
  return with_rank(rank, [&] {
    if (rank == 0) {
      const auto dir = std::filesystem::path(o.out).parent_path();
      FROST_CHECK(dir.empty() || std::filesystem::is_directory(dir), "--out '", o.out,
                  "': directory '", dir.string(), "' does not exist");
    }
    const train::Config cfg = run_config(o);
    const auto dataset = with_error_context("--data " + o.data, [&] {
      return data::H5Dataset::open(split_list(o.data));
    });
    const data::DatasetInfo& info = dataset.info();
    const std::string model_path = cfg.model.init;
    const int64_t classes =
        with_error_context("--run '" + o.run + "'", [&] { return model_classes(model_path); });
    const data::Task task = cfg.train.task;
    FROST_CHECK(info.task == train::to_string(task), "--data ", o.data, " has task = ", info.task,
                " but the run's model was trained for train.task = ", train::to_string(task),
                ": its outputs cannot be scored against this file");
    FROST_CHECK(task == data::Task::kClassification || info.num_classes == classes, "--data ",
                o.data, " has K = ", info.num_classes, " ", task_columns(task),
                " but the model ", model_path, " has ", classes, " outputs");
    FROST_CHECK(info.num_classes <= classes, "--data ", o.data, " has num_classes ",
                info.num_classes, " but the model ", model_path, " has ", classes,
                " classes: its labels cannot be scored by this model");
    // Note [Class names of a run] in class_names.h: the run's names, checked against the file's.
    const std::vector<std::string> run_names = data::read_run_class_names(o.run);
    const std::vector<std::string> data_names = with_error_context("--data " + o.data, [&] {
      return data::read_class_names(dataset.paths().front(), info.num_classes);
    });
    const std::string mismatch = data::class_name_mismatch(
        run_names, "the run '" + o.run + "' (classes.json)", data_names, "--data " + o.data);
    FROST_CHECK(mismatch.empty(), "the data file names its classes differently from the run: ",
                mismatch, "; its labels and the model's outputs would mean different classes "
                "(prepare it with the same label list as the run's training data)");
    const train::RankDevice device = train::place_this_rank(cfg, comm);
    train::Config model_cfg = cfg;
    model_cfg.data.train = o.data;  // build_model's messages name the file whose inputs differ
    models::Classifier model = with_error_context(
        frost::detail::str_cat("--data ", o.data, " (", data::input_kind_name(info.input_kind),
                        " inputs of shape ", data::shape_str(info.sample_shape),
                        ") does not fit the model of --run '", o.run, "'"),
        [&] { return train::build_model(model_cfg, info, classes, rank); });
    model->to(device.device);
    if (rank == 0) {
      spdlog::info("frost-predict: world size {}, model {} ({} classes, {} backbone), {} samples "
                   "of {}",
                   world, model_path, classes, train::to_string(cfg.model.backbone),
                   dataset.size(), o.data);
    }

    // This rank's range: predicted class and (with --probabilities) the softmax, in row order.
    const data::EvalSampler mine(dataset.size(), world, rank, cfg.data.eval_batch_size);
    // Columns per row: classification the class (+ C probabilities), multilabel the K 0/1
    // predictions (+ K sigmoid probabilities), regression the K predicted values.
    const bool classification = task == data::Task::kClassification;
    const int64_t width = task == data::Task::kRegression ? classes
                          : classification ? 1 + (o.probabilities ? classes : 0)
                                           : classes * (o.probabilities ? 2 : 1);
    std::vector<torch::Tensor> parts;
    train::Evaluator evaluator(dataset, cfg, comm, "--data " + o.data);
    const train::EvalResult result =
        evaluator.evaluate(*model, [&](int64_t, const torch::Tensor& logits) {
          std::vector<torch::Tensor> cols;
          if (classification) {
            cols.push_back(logits.argmax(1).unsqueeze(1).to(torch::kDouble));
            if (o.probabilities) cols.push_back(torch::softmax(logits, 1).to(torch::kDouble));
          } else if (task == data::Task::kMultilabel) {
            // Note [Task metrics] in evaluation.h: label k predicted when its logit >= 0.
            cols.push_back(logits.ge(0).to(torch::kDouble));
            if (o.probabilities) cols.push_back(torch::sigmoid(logits).to(torch::kDouble));
          } else {
            cols.push_back(logits.to(torch::kDouble));
          }
          parts.push_back(torch::cat(cols, 1).cpu());
        });
    // Every rank's rows to every rank (equal shapes: padded to the longest range); rank 0 keeps
    // each range's own rows, in rank order, which is file order (EvalSampler: rank r's range
    // comes before rank r + 1's).
    int64_t longest = 0;
    for (int r = 0; r < world; ++r) {
      longest = std::max(longest, data::EvalSampler(dataset.size(), world, r, 1).size());
    }
    torch::Tensor block = torch::zeros({longest, width}, torch::kDouble);
    if (!parts.empty()) block.slice(0, 0, mine.size()).copy_(torch::cat(parts, 0));
    torch::Tensor all = torch::empty({world * longest, width}, torch::kDouble);
    comm.all_gather(block.contiguous(), all);
    if (rank != 0) return 0;

    const std::vector<std::string>& names = run_names.empty() ? data_names : run_names;
    auto name_of = [&](int64_t c) {
      return c < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(c)]
                                                    : std::to_string(c);
    };
    if (!classification) {
      // index, then one column per label (0/1) or target (the value); multilabel with
      // --probabilities then p_<label> per label.
      std::string csv = "index";
      for (int64_t c = 0; c < classes; ++c)
        csv += "," + csv_field(names.empty() ? std::string(task == data::Task::kRegression
                                                               ? "target_"
                                                               : "label_") +
                                                   std::to_string(c)
                                             : name_of(c));
      for (int64_t c = 0; o.probabilities && task == data::Task::kMultilabel && c < classes; ++c)
        csv += "," + csv_field("p_" + (names.empty() ? "label_" + std::to_string(c) : name_of(c)));
      csv += "\n";
      char number[32];
      for (int r = 0; r < world; ++r) {
        const data::EvalSampler range(dataset.size(), world, r, 1);
        const torch::Tensor rows = all.slice(0, r * longest, r * longest + range.size());
        const double* v = rows.data_ptr<double>();
        for (int64_t i = 0; i < range.size(); ++i, v += width) {
          csv += std::to_string(range.begin() + i);
          for (int64_t c = 0; c < width; ++c) {
            if (task == data::Task::kMultilabel && c < classes) {
              csv += v[c] != 0 ? ",1" : ",0";
            } else {
              std::snprintf(number, sizeof(number), ",%.9g", v[c]);
              csv += number;
            }
          }
          csv += "\n";
        }
      }
      with_error_context("--out " + o.out, [&] { fs::write_file_atomic(o.out, csv); });
      spdlog::info("{}: {}", o.data, train::eval_line(result));
      spdlog::info("wrote {} predictions to {}", dataset.size(), o.out);
      return 0;
    }
    std::string csv = "index,predicted_index,predicted";
    if (o.probabilities) {
      for (int64_t c = 0; c < classes; ++c) csv += "," + csv_field("p_" + name_of(c));
    }
    csv += "\n";
    char number[32];
    for (int r = 0; r < world; ++r) {
      const data::EvalSampler range(dataset.size(), world, r, 1);
      const torch::Tensor rows = all.slice(0, r * longest, r * longest + range.size());
      const double* v = rows.data_ptr<double>();
      for (int64_t i = 0; i < range.size(); ++i, v += width) {
        const auto predicted = static_cast<int64_t>(v[0]);
        csv += std::to_string(range.begin() + i) + "," + std::to_string(predicted) + "," +
               csv_field(name_of(predicted));
        for (int64_t c = 1; c < width; ++c) {
          std::snprintf(number, sizeof(number), ",%.9g", v[c]);
          csv += number;
        }
        csv += "\n";
      }
    }
    with_error_context("--out " + o.out, [&] { fs::write_file_atomic(o.out, csv); });
    spdlog::info("{}: {}", o.data, train::eval_line(result));
    spdlog::info("wrote {} predictions to {}", dataset.size(), o.out);
    return 0;
  });
}

}  // namespace

int main(int argc, char** argv) {
  PredictOptions options;
  frost::apps::MpiProgram program;
  program.name = "frost-predict";
  program.parse = [&options](int arg_count, char** args,
                             frost::comm::Communicator&) -> std::optional<std::string> {
    return parse(arg_count, args, options);
  };
  program.run = [&options](frost::comm::Communicator& comm) { return predict(comm, options); };
  return frost::apps::run_mpi_program(program, argc, argv);
}
