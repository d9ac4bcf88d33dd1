// HDF5 helpers shared by the tests: the schema of small datasets, writers over write_dataset, and
// raw HDF5 access for what H5Dataset does not do (editing a file to break it, reading root
// attributes it does not expose). Raw HDF5 calls run under an H5Lock (Note [HDF5 lock] in
// frost/data/h5_dataset.h). No LibTorch: the data tests build without it.
#pragma once

#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "frost/data/h5_dataset.h"
#include "frost/data/h5_util.h"

namespace frost::testing {

/// The schema of n images [C, H, W] (`chw`) with one mean and one std (`stdev`) per channel.
inline data::DatasetInfo image_info(int64_t n, std::vector<int64_t> chw, int64_t num_classes,
                                    std::vector<double> mean, std::vector<double> stdev) {
  data::DatasetInfo info;
  info.num_samples = n;
  info.sample_shape = std::move(chw);
  info.input_kind = data::InputKind::kImage;
  info.num_classes = num_classes;
  info.mean = std::move(mean);
  info.std = std::move(stdev);
  return info;
}

/// The schema of n rows of `dim` float32 features.
inline data::DatasetInfo feature_info(int64_t n, int64_t dim, int64_t num_classes) {
  data::DatasetInfo info;
  info.num_samples = n;
  info.sample_shape = {dim};
  info.input_kind = data::InputKind::kFeatures;
  info.num_classes = num_classes;
  return info;
}

/// An image dataset as it is written: schema, uint8 pixels [N, C, H, W] row-major, labels [N].
struct ImageData {
  data::DatasetInfo info;
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
};

/// Writes `d` to `path` with `chunk_rows` rows per chunk (small by default, so that reads cross
/// chunks); returns `path`.
inline std::string write_images(const std::string& path, const ImageData& d,
                                int64_t chunk_rows = 4) {
  data::write_dataset(path, d.info, d.pixels.data(), d.labels.data(), chunk_rows);
  return path;
}

/// Writes a token dataset to `path`: labels.size() rows of `len` int32 ids (`tokens`, row-major),
/// classes [0, num_classes), and /attention_mask = `mask` (row-major) unless `mask` is empty.
/// Default chunking (WriteOptions). Returns `path`.
inline std::string write_tokens(const std::string& path, int64_t len, int64_t num_classes,
                                const std::vector<int32_t>& tokens,
                                const std::vector<int64_t>& labels,
                                const std::vector<uint8_t>& mask = {}) {
  data::DatasetInfo info;
  info.num_samples = static_cast<int64_t>(labels.size());
  info.sample_shape = {len};
  info.input_kind = data::InputKind::kTokens;
  info.num_classes = num_classes;
  info.has_attention_mask = !mask.empty();
  data::WriteOptions opt;
  opt.attention_mask = mask.empty() ? nullptr : mask.data();
  data::write_dataset(path, info, tokens.data(), labels.data(), opt);
  return path;
}

/// Opens `path` read-write under the HDF5 lock and runs `edit(file_id)` (to make broken files).
inline void edit_file(const std::string& path, const std::function<void(hid_t)>& edit) {
  data::H5Lock lock;
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0) << path;
  edit(file);
  ASSERT_GE(H5Fclose(file), 0);
}

/// Inside edit_file: replaces dataset `name` (if any) with a contiguous one of `dims` and file
/// type `type`, holding `data` of memory type `mem_type`.
inline void replace_dataset(hid_t file, const char* name, hid_t type,
                            const std::vector<hsize_t>& dims, const void* data, hid_t mem_type) {
  if (H5Lexists(file, name, H5P_DEFAULT) > 0) {
    ASSERT_GE(H5Ldelete(file, name, H5P_DEFAULT), 0);
  }
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t dset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(dset, 0);
  ASSERT_GE(H5Dwrite(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
  H5Dclose(dset);
  H5Sclose(space);
}

/// The root attribute `name` of `path` as int64 values; empty when it does not exist.
inline std::vector<int64_t> read_int64_attr(const std::string& path, const char* name) {
  data::H5Lock lock;
  // Frost's read-only file access (no file lock): HDF5 refuses a second open of a file that an
  // H5Dataset holds open when the two disagree on file locking.
  data::H5Id fapl = data::make_read_fapl(path);
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  EXPECT_GE(file, 0) << path;
  std::vector<int64_t> v;
  if (H5Aexists(file, name) > 0) {
    const hid_t attr = H5Aopen(file, name, H5P_DEFAULT);
    const hid_t space = H5Aget_space(attr);
    v.resize(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
    H5Aread(attr, H5T_NATIVE_INT64, v.data());
    H5Sclose(space);
    H5Aclose(attr);
  }
  H5Fclose(file);
  return v;
}

/// The root attribute `name` of `path`, a variable-length UTF-8 string.
inline std::string read_string_attr(const std::string& path, const char* name) {
  data::H5Lock lock;
  // Frost's read-only file access (no file lock): HDF5 refuses a second open of a file that an
  // H5Dataset holds open when the two disagree on file locking.
  data::H5Id fapl = data::make_read_fapl(path);
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  const hid_t attr = H5Aopen(file, name, H5P_DEFAULT);
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  char* data = nullptr;
  H5Aread(attr, type, &data);
  std::string s = data != nullptr ? data : "";
  H5free_memory(data);
  H5Tclose(type);
  H5Aclose(attr);
  H5Fclose(file);
  return s;
}

}  // namespace frost::testing
