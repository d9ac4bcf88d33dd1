// The writer: write_dataset (h5_dataset.h) writes one Frost dataset file atomically.
//
//   validate_for_write   the arguments, checked before any file is created
//   write_rows           one dataset [N, ...] chunked along axis 0, optionally gzip-compressed
//   write_dataset        temporary file -> /inputs, /labels or /targets, /attention_mask, root
//                        attributes ->
//                        close -> fsync + rename over the path (core/fs.h)
//
// The schema written is the one h5_schema.cpp checks (dataset_info.h, docs/data.md).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/h5_util.h"

namespace frost::data {
namespace {

// HDF5 limits one chunk to 4 GiB; stay well below.
constexpr int64_t kMaxChunkBytes = int64_t{1} << 30;

// Creates dataset `name` [N, row_dims...] chunked along axis 0 and writes `data` (all N rows).
void write_rows(hid_t file, const char* name, hid_t file_type, hid_t mem_type,
                const std::vector<int64_t>& row_dims, int64_t n, int64_t chunk_rows,
                int deflate_level, const void* data, const std::string& where) {
  std::vector<hsize_t> dims{static_cast<hsize_t>(n)};
  for (int64_t d : row_dims) dims.push_back(static_cast<hsize_t>(d));
  std::vector<hsize_t> chunk = dims;
  chunk[0] = static_cast<hsize_t>(std::min(chunk_rows, n));
  H5Id space =
      space_id(H5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                        where, ": dataspace of /", name));
  H5Id dcpl = plist_id(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE), where));
  H5_CHECK(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()), where,
           ": chunking /", name);
  H5_CHECK(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), where);
  if (deflate_level > 0)
    H5_CHECK(H5Pset_deflate(dcpl.get(), static_cast<unsigned>(deflate_level)), where,
             ": gzip level ", deflate_level, " on /", name);
  H5Id dset = dataset_id(
      H5_CHECK(H5Dcreate2(file, name, file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
               where, ": creating /", name));
  H5_CHECK(H5Dwrite(dset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), where,
           ": writing /", name);
}

void validate_for_write(const std::string& path, const DatasetInfo& info, const void* inputs,
                        const int64_t* labels, const WriteOptions& opt) {
  const std::string w = "write_dataset('" + path + "')";
  FROST_CHECK(!path.empty(), "write_dataset: the output path is empty");
  Task task = Task::kClassification;
  try {
    task = parse_task(info.task);
  } catch (const Error& e) {
    throw Error(w + ": " + e.what());
  }
  FROST_CHECK(inputs != nullptr, w, ": inputs must not be null");
  if (task == Task::kClassification) {
    FROST_CHECK(labels != nullptr && opt.targets == nullptr, w,
                ": task classification needs labels (and no targets)");
  } else {
    FROST_CHECK(labels == nullptr && opt.targets != nullptr, w, ": task ", info.task,
                " needs targets (and no labels)");
    FROST_CHECK(info.num_targets == info.num_classes, w, ": task ", info.task,
                " needs num_targets = num_classes = K, got ", info.num_targets, " and ",
                info.num_classes);
  }
  FROST_CHECK(info.num_samples >= 1, w,
              ": a dataset needs at least one sample, got N = ", info.num_samples);
  FROST_CHECK(info.num_classes >= 1, w, ": num_classes must be >= 1, got ", info.num_classes);
  FROST_CHECK(opt.chunk_rows >= 1, w, ": chunk_rows must be >= 1, got ", opt.chunk_rows);
  FROST_CHECK(opt.deflate_level >= 0 && opt.deflate_level <= 9, w,
              ": deflate_level must be in [0, 9], got ", opt.deflate_level);
  FROST_CHECK(!info.sample_shape.empty(), w, ": sample_shape is empty");
  for (int64_t d : info.sample_shape)
    FROST_CHECK(d >= 1, w, ": every sample dimension must be >= 1, got sample_shape ",
                shape_str(info.sample_shape));
  const int64_t row_bytes = info.sample_numel() * info.element_bytes();
  FROST_CHECK(std::min(opt.chunk_rows, info.num_samples) * row_bytes <= kMaxChunkBytes, w,
              ": a chunk of ", std::min(opt.chunk_rows, info.num_samples), " rows x ", row_bytes,
              " bytes exceeds ", kMaxChunkBytes, " bytes; lower chunk_rows");
  switch (info.input_kind) {
    case InputKind::kImage: {
      FROST_CHECK(info.sample_shape.size() == 3, w, ": images need sample_shape [C, H, W], got ",
                  shape_str(info.sample_shape));
      const auto channels = static_cast<size_t>(info.sample_shape[0]);
      FROST_CHECK(info.mean.size() == channels && info.std.size() == channels, w,
                  ": images need one mean and one std per channel (", channels, "), got ",
                  info.mean.size(), " and ", info.std.size());
      for (size_t c = 0; c < channels; ++c)
        FROST_CHECK(std::isfinite(info.mean[c]) && std::isfinite(info.std[c]) && info.std[c] > 0, w,
                    ": channel ", c, " has mean ", info.mean[c], ", std ", info.std[c],
                    "; std must be finite and > 0");
      break;
    }
    case InputKind::kTokens:
      FROST_CHECK(info.sample_shape.size() == 1, w, ": tokens need sample_shape [L], got ",
                  shape_str(info.sample_shape));
      break;
    case InputKind::kFeatures: break;
  }
  FROST_CHECK(!info.has_attention_mask || info.input_kind == InputKind::kTokens, w,
              ": /attention_mask is only for input_kind tokens");
  FROST_CHECK(info.has_attention_mask == (opt.attention_mask != nullptr), w,
              ": info.has_attention_mask is ", info.has_attention_mask,
              " but an attention mask was ", opt.attention_mask ? "" : "not ", "given");
  FROST_CHECK(!info.has_token_type_ids || info.has_attention_mask, w,
              ": /token_type_ids needs /attention_mask (token type of padding is 0)");
  FROST_CHECK(info.has_token_type_ids == (opt.token_type_ids != nullptr), w,
              ": info.has_token_type_ids is ", info.has_token_type_ids, " but token type ids were ",
              opt.token_type_ids ? "" : "not ", "given");
  if (opt.token_type_ids != nullptr)
    for (int64_t i = 0; i < info.num_samples * info.sample_numel(); ++i)
      FROST_CHECK(opt.token_type_ids[i] <= 1, w, ": token_type_ids element ", i, " is ",
                  int{opt.token_type_ids[i]}, "; token types are 0 or 1");
  const int64_t k = info.num_classes;
  for (int64_t i = 0; task != Task::kClassification && i < info.num_samples * k; ++i) {
    const float v = opt.targets[i];
    if (task == Task::kMultilabel) {
      FROST_CHECK(v == 0.0f || v == 1.0f, w, ": targets[", i / k, "][", i % k, "] = ", v,
                  " but a multilabel target is 0 or 1");
    } else {
      FROST_CHECK(std::isfinite(v), w, ": targets[", i / k, "][", i % k, "] = ", v,
                  " is not finite");
    }
  }
  for (int64_t i = 0; task == Task::kClassification && i < info.num_samples; ++i)
    FROST_CHECK(labels[i] >= 0 && labels[i] < info.num_classes, w, ": labels[", i,
                "] = ", labels[i], " is outside [0, ", info.num_classes, ") (num_classes)");
  static const std::set<std::string> kReserved = {"frost_schema", "task",        "num_classes",
                                                  "num_targets",  "input_kind", "mean",
                                                  "std"};
  for (const auto& [name, values] : opt.int64_attributes) {
    FROST_CHECK(!name.empty() && kReserved.count(name) == 0, w, ": attribute name '", name,
                "' is empty or reserved by the schema");
    FROST_CHECK(!values.empty(), w, ": attribute '", name, "' has no values");
  }
  for (const auto& [name, value] : opt.string_attributes) {
    FROST_CHECK(!name.empty() && kReserved.count(name) == 0, w, ": attribute name '", name,
                "' is empty or reserved by the schema");
    FROST_CHECK(opt.int64_attributes.count(name) == 0, w, ": attribute '", name,
                "' is given both as int64 and as string");
  }
}

}  // namespace

// ---- write_dataset ---------------------------------------------------------------------------

void write_dataset(const std::string& path, const DatasetInfo& info, const void* inputs,
                   const int64_t* labels, int64_t chunk_rows) {
  WriteOptions options;
  options.chunk_rows = chunk_rows;
  write_dataset(path, info, inputs, labels, options);
}

void write_dataset(const std::string& path, const DatasetInfo& info, const void* inputs,
                   const int64_t* labels, const WriteOptions& options) {
  validate_for_write(path, info, inputs, labels, options);
  const std::string tmp = fs::temp_path_for(path);
  const std::string where = "writing dataset '" + path + "' (temporary file '" + tmp + "')";
  const int64_t n = info.num_samples;
  try {
    {
      H5Lock lock;  // declared first: the handles below close while it is still held
      H5Id fapl = make_fapl(where);
      // STRONG: H5Fclose closes every object still open, so the file is complete on disk.
      H5_CHECK(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), where);
      H5Id file = file_id(H5_CHECK(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()),
                                   where, ": creating the file"));
      hid_t file_type = H5T_STD_U8LE, mem_type = H5T_NATIVE_UINT8;
      if (info.input_kind == InputKind::kFeatures) {
        file_type = H5T_IEEE_F32LE;
        mem_type = H5T_NATIVE_FLOAT;
      } else if (info.input_kind == InputKind::kTokens) {
        file_type = H5T_STD_I32LE;
        mem_type = H5T_NATIVE_INT32;
      }
      write_rows(file.get(), "inputs", file_type, mem_type, info.sample_shape, n,
                 options.chunk_rows, options.deflate_level, inputs, where);
      const Task task = info.task_kind();
      const int64_t k = info.num_classes;
      if (task == Task::kClassification) {
        write_rows(file.get(), "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, {}, n,
                   options.chunk_rows, options.deflate_level, labels, where);
      } else if (task == Task::kMultilabel) {
        // uint8 0/1: exact, and 4x smaller than float32 (docs/data.md).
        std::vector<uint8_t> bits(static_cast<size_t>(n * k));
        for (size_t i = 0; i < bits.size(); ++i) bits[i] = options.targets[i] != 0.0f ? 1 : 0;
        write_rows(file.get(), "targets", H5T_STD_U8LE, H5T_NATIVE_UINT8, {k}, n,
                   options.chunk_rows, options.deflate_level, bits.data(), where);
      } else {
        write_rows(file.get(), "targets", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {k}, n,
                   options.chunk_rows, options.deflate_level, options.targets, where);
      }
      if (info.has_attention_mask)
        write_rows(file.get(), "attention_mask", H5T_STD_U8LE, H5T_NATIVE_UINT8, info.sample_shape,
                   n, options.chunk_rows, options.deflate_level, options.attention_mask, where);
      if (info.has_token_type_ids)
        write_rows(file.get(), "token_type_ids", H5T_STD_U8LE, H5T_NATIVE_UINT8, info.sample_shape,
                   n, options.chunk_rows, options.deflate_level, options.token_type_ids, where);

      const hid_t root = file.get();
      const int64_t schema = kFrostSchemaVersion;
      write_int64_attr(root, "frost_schema", &schema, 1, /*scalar=*/true, where);
      write_string_attr(root, "task", info.task, where);
      write_int64_attr(root, info.task_kind() == Task::kRegression ? "num_targets" : "num_classes",
                       &info.num_classes, 1, /*scalar=*/true, where);
      write_string_attr(root, "input_kind", input_kind_name(info.input_kind), where);
      if (info.input_kind == InputKind::kImage) {
        write_double_array_attr(root, "mean", info.mean, where);
        write_double_array_attr(root, "std", info.std, where);
      }
      for (const auto& [name, values] : options.int64_attributes)
        write_int64_attr(root, name.c_str(), values.data(), values.size(), /*scalar=*/false, where);
      for (const auto& [name, value] : options.string_attributes)
        write_string_attr(root, name.c_str(), value, where);
      H5_CHECK(file.close(), where, ": closing the file");
    }
  } catch (...) {
    std::remove(tmp.c_str());  // nothing partial is left behind; `path` was never touched
    throw;
  }
  // fsync, rename over `path`, fsync the directory; removes `tmp` itself if that fails.
  fs::commit_temp_file(tmp, path);
}

}  // namespace frost::data
