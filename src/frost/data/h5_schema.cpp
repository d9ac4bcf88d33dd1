// Schema checks: what a Frost dataset file must hold (dataset_info.h, docs/data.md), checked
// when a shard is opened.
//
//   parse_input_kind, input_kind_name, DatasetInfo    the schema's types (dataset_info.h)
//   open_shard          opens one shard file and validates its attributes, /inputs, /labels
//                       (every label read and range-checked) or /targets (every value read and
//                       checked: 0/1 for multilabel, finite for regression), /attention_mask,
//                       /token_type_ids (read whole, kept as spans), mean/std
//   check_same_schema   the shards of one dataset agree (a message naming both files)
//
// Writing the same schema: h5_write.cpp. Every HDF5 call here runs under the HDF5 lock, held by
// the caller (H5Dataset::open).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <sstream>

#include "frost/core/error.h"
#include "frost/core/strings.h"
#include "frost/data/h5_shard.h"
#include "frost/data/h5_util.h"

namespace frost::data {

// ---- DatasetInfo / InputKind ------------------------------------------------------------

InputKind parse_input_kind(const std::string& s) {
  if (s == "image") return InputKind::kImage;
  if (s == "features") return InputKind::kFeatures;
  if (s == "tokens") return InputKind::kTokens;
  throw Error("unknown input_kind '" + s + "'; expected one of: image, features, tokens");
}

const char* input_kind_name(InputKind k) {
  switch (k) {
    case InputKind::kImage: return "image";
    case InputKind::kFeatures: return "features";
    case InputKind::kTokens: return "tokens";
  }
  return "unknown";
}

Task parse_task(const std::string& s) {
  if (s == "classification") return Task::kClassification;
  if (s == "multilabel") return Task::kMultilabel;
  if (s == "regression") return Task::kRegression;
  throw Error("unknown task '" + printable(s) +
              "'; expected one of: classification, multilabel, regression");
}

const char* task_name(Task t) {
  switch (t) {
    case Task::kClassification: return "classification";
    case Task::kMultilabel: return "multilabel";
    case Task::kRegression: return "regression";
  }
  return "unknown";
}

Task DatasetInfo::task_kind() const { return parse_task(task); }

int64_t DatasetInfo::sample_numel() const {
  int64_t n = 1;
  for (int64_t d : sample_shape) n *= d;
  return n;
}

int64_t DatasetInfo::element_bytes() const { return input_kind == InputKind::kImage ? 1 : 4; }

// ---- open_shard, check_same_schema ---------------------------------------------------------

namespace internal {
namespace {

// Note [Token type spans]
// -----------------------
// /token_type_ids is read whole when a shard is opened, checked (every value 0 or 1, the 1s of
// a row one run of columns: [CLS] a [SEP] are 0, b [SEP] are 1, padding is 0, as Hugging Face
// writes pairs) and kept as one span [begin, end) of type-1 columns per row: 8 bytes a row in
// memory, like /labels, instead of L bytes read again with every batch. read() expands the
// spans back into rows of 0 and 1, so what the loader gets is the stored array, bit for bit.
// A row whose 1s are not one run is refused at open: BERT has two token types, and a pair
// is the only layout Frost writes or reads.

std::string values_str(const std::vector<double>& v) {
  std::ostringstream os;
  os.precision(17);
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << "]";
  return os.str();
}

// Opens dataset `name`, which must exist and be a dataset, with default access properties
// (configure_reads() reopens /inputs and /attention_mask with their chunk cache).
H5Id open_dataset(hid_t file, const char* name, const std::string& path) {
  const htri_t exists = H5_CHECK(H5Lexists(file, name, H5P_DEFAULT), path, ": looking for /", name);
  FROST_CHECK(exists > 0, path, ": dataset /", name,
              " is missing; a Frost dataset needs /inputs and /labels (see docs/data.md); "
              "write it with frost-prep or write_dataset");
  {
    H5Id obj = object_id(H5_CHECK(H5Oopen(file, name, H5P_DEFAULT), path, ": opening /", name));
    FROST_CHECK(H5Iget_type(obj.get()) == H5I_DATASET, path, ": /", name,
                " is not a dataset (a group or a named type?)");
  }
  return dataset_id(H5_CHECK(H5Dopen2(file, name, H5P_DEFAULT), path, ": opening /", name));
}

}  // namespace

DatasetInfo open_shard(const std::string& path, Shard& shard, std::vector<int64_t>& labels_out,
                       std::vector<float>& targets_out) {
  struct stat st {};
  FROST_CHECK(::stat(path.c_str(), &st) == 0, path,
              ": cannot open dataset file: ", std::strerror(errno), "; check the path");
  FROST_CHECK(S_ISREG(st.st_mode), path, ": is not a regular file (a directory?)");
  FROST_CHECK(::access(path.c_str(), R_OK) == 0, path,
              ": cannot read dataset file: ", std::strerror(errno));
  const htri_t is_h5 = H5_CHECK(H5Fis_hdf5(path.c_str()), path, ": checking the file format");
  FROST_CHECK(is_h5 > 0, path,
              ": is not an HDF5 file (no HDF5 signature); expected a Frost "
              "dataset written by frost-prep or write_dataset");
  shard.path = path;
  H5Id fapl = make_read_fapl(path);  // read-only: no file lock
  shard.file = file_id(
      H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), path, ": opening the file"));
  const hid_t root = shard.file.get();

  DatasetInfo info;
  FROST_CHECK(has_attr(root, "frost_schema", path), path,
              ": root attribute frost_schema is missing, so this is not a Frost dataset; "
              "write it with frost-prep or write_dataset (see docs/data.md)");
  const int64_t schema = read_int_attr(root, "frost_schema", path);
  FROST_CHECK(schema == kFrostSchemaVersion, path, ": frost_schema = ", schema,
              " but this Frost reads schema version ", kFrostSchemaVersion,
              "; re-create the file with this version's frost-prep");
  FROST_CHECK(has_attr(root, "input_kind", path), path,
              ": root attribute input_kind (image | features | tokens) is missing");
  const std::string kind = read_string_attr(root, "input_kind", path);
  try {
    info.input_kind = parse_input_kind(kind);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what() + " (root attribute input_kind)");
  }
  Task task = Task::kClassification;
  if (has_attr(root, "task", path)) {
    // A misspelled or unknown task must not train as classification unnoticed.
    info.task = read_string_attr(root, "task", path);
    try {
      task = parse_task(info.task);
    } catch (const Error& e) {
      throw Error(path + ": " + e.what() + " (root attribute task)");
    }
  }
  // The head's width: num_classes (classification, multilabel) or num_targets (regression).
  const char* width_attr = task == Task::kRegression ? "num_targets" : "num_classes";
  FROST_CHECK(has_attr(root, width_attr, path), path, ": root attribute ", width_attr,
              " is missing", task == Task::kClassification ? "" : " (task = " + info.task + ")");
  info.num_classes = read_int_attr(root, width_attr, path);
  FROST_CHECK(info.num_classes >= 1, path, ": ", width_attr, " = ", info.num_classes,
              " but must be >= 1");
  if (task != Task::kClassification) info.num_targets = info.num_classes;

  // /inputs: dtype class and rank by input kind.
  shard.inputs = open_dataset(root, "inputs", path);
  {
    H5Id ftype = type_id(H5_CHECK(H5Dget_type(shard.inputs.get()), path, ": /inputs"));
    const H5T_class_t cls = H5Tget_class(ftype.get());
    const std::string found = dtype_name(ftype.get());
    switch (info.input_kind) {
      case InputKind::kImage:
        FROST_CHECK(cls == H5T_INTEGER && H5Tget_size(ftype.get()) == 1 &&
                        H5Tget_sign(ftype.get()) == H5T_SGN_NONE,
                    path, ": /inputs has dtype ", found,
                    " but input_kind 'image' needs uint8 pixels in [0, 255]");
        break;
      case InputKind::kFeatures:
        FROST_CHECK(cls == H5T_FLOAT, path, ": /inputs has dtype ", found,
                    " but input_kind 'features' needs a float dtype (float32 preferred)");
        break;
      case InputKind::kTokens:
        FROST_CHECK(cls == H5T_INTEGER && H5Tget_size(ftype.get()) <= 4, path,
                    ": /inputs has dtype ", found,
                    " but input_kind 'tokens' needs integer token ids of at most 32 bits");
        break;
    }
  }
  const std::vector<int64_t> in_dims = dataset_dims(shard.inputs.get(), path, "inputs");
  const size_t want_rank = info.input_kind == InputKind::kImage    ? 4
                           : info.input_kind == InputKind::kTokens ? 2
                                                                   : 0;
  FROST_CHECK(want_rank == 0 ? in_dims.size() >= 2 : in_dims.size() == want_rank, path,
              ": /inputs has shape ", shape_str(in_dims), " but input_kind '", kind, "' needs ",
              info.input_kind == InputKind::kImage    ? "[N, C, H, W]"
              : info.input_kind == InputKind::kTokens ? "[N, L]"
                                                      : "[N, D...] (rank >= 2)");
  info.num_samples = in_dims[0];
  info.sample_shape.assign(in_dims.begin() + 1, in_dims.end());
  FROST_CHECK(info.num_samples >= 1, path, ": /inputs has no rows (N = 0)");
  for (int64_t d : info.sample_shape)
    FROST_CHECK(d >= 1, path, ": /inputs has an empty sample dimension: shape ",
                shape_str(in_dims));

  // /labels: integer [N], all in [0, num_classes).
  if (task == Task::kClassification) {
    H5Id labels = open_dataset(root, "labels", path);
    H5Id ftype = type_id(H5_CHECK(H5Dget_type(labels.get()), path, ": /labels"));
    FROST_CHECK(H5Tget_class(ftype.get()) == H5T_INTEGER, path, ": /labels has dtype ",
                dtype_name(ftype.get()), " but class indices must be integers (int64)");
    const std::vector<int64_t> dims = dataset_dims(labels.get(), path, "labels");
    FROST_CHECK(dims.size() == 1, path, ": /labels has shape ", shape_str(dims),
                " but must be [N]");
    FROST_CHECK(dims[0] == info.num_samples, path, ": /labels has ", dims[0],
                " rows but /inputs has ", info.num_samples, "; they must match row for row");
    const size_t base = labels_out.size();
    labels_out.resize(base + static_cast<size_t>(info.num_samples));
    H5_CHECK(H5Dread(labels.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                     labels_out.data() + base),
             path, ": reading /labels");
    for (int64_t i = 0; i < info.num_samples; ++i) {
      const int64_t y = labels_out[base + static_cast<size_t>(i)];
      FROST_CHECK(y >= 0 && y < info.num_classes, path, ": /labels[", i, "] = ", y,
                  " is outside [0, ", info.num_classes, ") (num_classes attribute)");
    }
  }

  // /targets [N, K]: multilabel uint8 0/1 (read as float32 0/1), regression float finite.
  if (task != Task::kClassification) {
    const htri_t has = H5_CHECK(H5Lexists(root, "targets", H5P_DEFAULT), path,
                                ": looking for /targets");
    FROST_CHECK(has > 0, path, ": dataset /targets is missing; a file with task = ", info.task,
                " holds its targets in /targets [N, K] (see docs/data.md)");
    H5Id targets = open_dataset(root, "targets", path);
    H5Id ftype = type_id(H5_CHECK(H5Dget_type(targets.get()), path, ": /targets"));
    const H5T_class_t cls = H5Tget_class(ftype.get());
    if (task == Task::kMultilabel) {
      FROST_CHECK(cls == H5T_INTEGER, path, ": /targets has dtype ", dtype_name(ftype.get()),
                  " but task multilabel needs integer 0/1 values (uint8)");
    } else {
      FROST_CHECK(cls == H5T_FLOAT, path, ": /targets has dtype ", dtype_name(ftype.get()),
                  " but task regression needs float values (float32)");
    }
    const std::vector<int64_t> dims = dataset_dims(targets.get(), path, "targets");
    FROST_CHECK(dims.size() == 2 && dims[0] == info.num_samples && dims[1] == info.num_classes,
                path, ": /targets has shape ", shape_str(dims), " but must be [N, K] = [",
                info.num_samples, ", ", info.num_classes, "] (N: the rows of /inputs; K: the ",
                width_attr, " attribute)");
    const int64_t k = info.num_classes;
    const size_t base = targets_out.size();
    targets_out.resize(base + static_cast<size_t>(info.num_samples * k));
    float* out = targets_out.data() + base;
    if (task == Task::kMultilabel) {
      // Read as int64 first, so a 2 (or a -1) is seen as such, not converted.
      std::vector<int64_t> values(static_cast<size_t>(info.num_samples * k));
      H5_CHECK(H5Dread(targets.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                       values.data()),
               path, ": reading /targets");
      for (size_t i = 0; i < values.size(); ++i) {
        FROST_CHECK(values[i] == 0 || values[i] == 1, path, ": /targets[",
                    static_cast<int64_t>(i) / k, "][", static_cast<int64_t>(i) % k, "] = ",
                    values[i], " but a multilabel target is 0 or 1");
        out[i] = static_cast<float>(values[i]);
      }
    } else {
      H5_CHECK(H5Dread(targets.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out), path,
               ": reading /targets");
      for (int64_t i = 0; i < info.num_samples * k; ++i)
        FROST_CHECK(std::isfinite(out[i]), path, ": /targets[", i / k, "][", i % k, "] = ",
                    out[i], " is not finite; a regression target must be a finite number");
    }
  }

  // /attention_mask (optional, tokens only): integer [N, L].
  const htri_t has_mask = H5_CHECK(H5Lexists(root, "attention_mask", H5P_DEFAULT), path,
                                   ": looking for /attention_mask");
  if (has_mask > 0) {
    FROST_CHECK(info.input_kind == InputKind::kTokens, path,
                ": /attention_mask is present but input_kind is '", kind,
                "'; masks are only for tokens");
    shard.attention_mask = open_dataset(root, "attention_mask", path);
    H5Id ftype =
        type_id(H5_CHECK(H5Dget_type(shard.attention_mask.get()), path, ": /attention_mask"));
    FROST_CHECK(H5Tget_class(ftype.get()) == H5T_INTEGER, path, ": /attention_mask has dtype ",
                dtype_name(ftype.get()), " but must be an integer type (uint8)");
    const std::vector<int64_t> dims =
        dataset_dims(shard.attention_mask.get(), path, "attention_mask");
    FROST_CHECK(dims == in_dims, path, ": /attention_mask has shape ", shape_str(dims),
                " but /inputs has ", shape_str(in_dims), "; they must match");
    info.has_attention_mask = true;
  }

  // /token_type_ids (optional, tokens with a mask): integer [N, L], Note [Token type spans].
  const htri_t has_types = H5_CHECK(H5Lexists(root, "token_type_ids", H5P_DEFAULT), path,
                                    ": looking for /token_type_ids");
  if (has_types > 0) {
    FROST_CHECK(info.input_kind == InputKind::kTokens && info.has_attention_mask, path,
                ": /token_type_ids is present but ",
                info.input_kind != InputKind::kTokens
                    ? detail::str_cat("input_kind is '", kind, "'; token types are only for tokens")
                    : std::string("/attention_mask is not; token types need the mask"));
    H5Id types = open_dataset(root, "token_type_ids", path);
    H5Id ftype = type_id(H5_CHECK(H5Dget_type(types.get()), path, ": /token_type_ids"));
    FROST_CHECK(H5Tget_class(ftype.get()) == H5T_INTEGER, path, ": /token_type_ids has dtype ",
                dtype_name(ftype.get()), " but must be an integer type (uint8)");
    const std::vector<int64_t> dims = dataset_dims(types.get(), path, "token_type_ids");
    FROST_CHECK(dims == in_dims, path, ": /token_type_ids has shape ", shape_str(dims),
                " but /inputs has ", shape_str(in_dims), "; they must match");
    const int64_t len = in_dims[1];
    const int64_t block = std::max<int64_t>(1, (int64_t{16} << 20) / len);
    std::vector<int16_t> buf(static_cast<size_t>(std::min(block, info.num_samples) * len));
    std::vector<int64_t> rows;
    shard.type_begin.assign(static_cast<size_t>(info.num_samples), 0);
    shard.type_end.assign(static_cast<size_t>(info.num_samples), 0);
    for (int64_t r0 = 0; r0 < info.num_samples; r0 += block) {
      const int64_t m = std::min(block, info.num_samples - r0);
      rows.resize(static_cast<size_t>(m));
      for (int64_t i = 0; i < m; ++i) rows[static_cast<size_t>(i)] = r0 + i;
      read_rows(types.get(), "token_type_ids", path, H5T_NATIVE_INT16, info.sample_shape,
                rows.data(), rows.size(), buf.data());
      for (int64_t i = 0; i < m; ++i) {
        const int16_t* t = buf.data() + i * len;
        int64_t begin = len, end = len;
        for (int64_t j = 0; j < len; ++j) {
          FROST_CHECK(t[j] == 0 || t[j] == 1, path, ": /token_type_ids[", r0 + i, ", ", j,
                      "] = ", t[j], " but token types must be 0 or 1");
          if (t[j] == 1 && begin == len) begin = j;
          if (t[j] == 0 && begin != len && end == len) end = j;
          FROST_CHECK(!(t[j] == 1 && end != len), path, ": /token_type_ids row ", r0 + i,
                      " has type 1 at columns ", begin, " and ", j, " with 0 between; Frost "
                      "reads one second segment per row ([CLS] a [SEP] b [SEP], then padding)");
        }
        if (begin == len) begin = end = 0;
        shard.type_begin[static_cast<size_t>(r0 + i)] = static_cast<int32_t>(begin);
        shard.type_end[static_cast<size_t>(r0 + i)] = static_cast<int32_t>(end);
      }
    }
    info.has_token_type_ids = true;
  }

  // mean / std (images).
  if (info.input_kind == InputKind::kImage) {
    FROST_CHECK(has_attr(root, "mean", path) && has_attr(root, "std", path), path,
                ": root attributes mean and std (one per channel, in [0, 1] pixel units) are "
                "required for images; frost-prep writes them");
    info.mean = read_double_array_attr(root, "mean", path);
    info.std = read_double_array_attr(root, "std", path);
    const auto channels = static_cast<size_t>(info.sample_shape[0]);
    FROST_CHECK(info.mean.size() == channels && info.std.size() == channels, path, ": mean has ",
                info.mean.size(), " and std ", info.std.size(), " values but the images have ",
                channels, " channel(s); there must be one per channel");
    for (size_t c = 0; c < channels; ++c)
      FROST_CHECK(std::isfinite(info.mean[c]) && std::isfinite(info.std[c]) && info.std[c] > 0,
                  path, ": channel ", c, " has mean ", info.mean[c], " and std ", info.std[c],
                  "; std must be finite and > 0");
  }
  shard.rows = info.num_samples;
  return info;
}

void check_same_schema(const DatasetInfo& a, const std::string& path_a, const DatasetInfo& b,
                       const std::string& path_b) {
  auto fail = [&](const char* what, const std::string& va, const std::string& vb) {
    throw Error(detail::str_cat("dataset shards disagree on ", what, ": '", path_a, "' has ", va,
                                " but '", path_b, "' has ", vb,
                                "; all shard files of one dataset must share the schema"));
  };
  if (a.input_kind != b.input_kind)
    fail("input_kind", input_kind_name(a.input_kind), input_kind_name(b.input_kind));
  if (a.sample_shape != b.sample_shape)
    fail("the sample shape", shape_str(a.sample_shape), shape_str(b.sample_shape));
  if (a.num_classes != b.num_classes)
    fail("num_classes", std::to_string(a.num_classes), std::to_string(b.num_classes));
  if (a.task != b.task) fail("task", a.task, b.task);
  if (a.num_targets != b.num_targets)
    fail("the targets K", std::to_string(a.num_targets), std::to_string(b.num_targets));
  if (a.mean != b.mean) fail("mean", values_str(a.mean), values_str(b.mean));
  if (a.std != b.std) fail("std", values_str(a.std), values_str(b.std));
  if (a.has_attention_mask != b.has_attention_mask)
    fail("/attention_mask", a.has_attention_mask ? "one" : "none",
         b.has_attention_mask ? "one" : "none");
  if (a.has_token_type_ids != b.has_token_type_ids)
    fail("/token_type_ids", a.has_token_type_ids ? "one" : "none",
         b.has_token_type_ids ? "one" : "none");
}

}  // namespace internal
}  // namespace frost::data
