// h5_util.h, the HDF5 plumbing that code outside frost::data uses too: H5_CHECK's message
// (context, call, file:line, HDF5's own error stack), H5Id closing what it owns, make_fapl.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <string>
#include <utility>
#include <vector>

#include "frost/data/h5_dataset.h"
#include "frost/data/h5_util.h"
#include "h5_test_util.h"
#include "test_util.h"

namespace frost::data {
namespace {

using testing::error_of;
using testing::make_temp_dir;

// A Frost features file of one row [0.5, 0.5], label 1 of 2.
std::string features_file() {
  const std::string path = make_temp_dir() + "/f.h5";
  const std::vector<float> x(2, 0.5f);
  const std::vector<int64_t> y{1};
  write_dataset(path, testing::feature_info(1, 2, 2), x.data(), y.data());
  return path;
}

TEST(H5Util, CheckNamesTheContextCallPlaceAndHdf5Error) {
  const std::string path = make_temp_dir() + "/missing.h5";
  H5Lock lock;
  int line = 0;
  const std::string msg = error_of([&] {
    line = __LINE__ + 1;
    H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path, ": opening the file");
  });
  EXPECT_CONTAINS(msg, path +
                           ": opening the file: HDF5 call H5Fopen(path.c_str(), "
                           "H5F_ACC_RDONLY, H5P_DEFAULT) failed at "
                           "tests/unit/data/test_h5_util.cpp:" +
                           std::to_string(line) + ": ");
  EXPECT_CONTAINS(msg, "unable to open file");
  // The error stack was consumed: the next failure reports only its own cause.
  EXPECT_EQ(hdf5_error_text(), "no HDF5 error message");
}

TEST(H5Util, CheckReturnsTheResultOfASuccessfulCall) {
  const std::string path = features_file();
  H5Lock lock;
  H5Id fapl = make_fapl(path);
  H5Id file = file_id(H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), path));
  H5Id dset = dataset_id(H5_CHECK(H5Dopen2(file.get(), "inputs", H5P_DEFAULT), path));
  EXPECT_EQ(dataset_dims(dset.get(), path, "inputs"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(read_string_attr(file.get(), "input_kind", path), "features");
  EXPECT_EQ(read_int_attr(file.get(), "num_classes", path), 2);
}

TEST(H5Util, IdClosesWhatItOwnsOnceAndMoves) {
  const std::string path = features_file();
  H5Lock lock;
  hid_t raw = -1;
  {
    H5Id file = file_id(H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path));
    raw = file.get();
    EXPECT_GT(H5Iis_valid(raw), 0);
    H5Id moved = std::move(file);
    EXPECT_FALSE(file.valid());  // NOLINT(bugprone-use-after-move): the moved-from state
    EXPECT_EQ(moved.get(), raw);
    EXPECT_GT(H5Iis_valid(raw), 0);
  }
  EXPECT_LE(H5Iis_valid(raw), 0);  // closed by `moved`, and only once (no error from `file`)
  EXPECT_EQ(hdf5_error_text(), "no HDF5 error message");
}

TEST(H5Util, RootAttributeOfTheWrongKindIsNamed) {
  const std::string path = features_file();
  H5Lock lock;
  H5Id file = file_id(H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), path));
  const int64_t pair[2] = {3, 4};
  write_int64_attr(file.get(), "pair", pair, 2, /*scalar=*/false, path);
  EXPECT_CONTAINS(error_of([&] { read_int_attr(file.get(), "pair", path); }),
                  path +
                      ": root attribute 'pair' must be a single integer, found 2 value(s) of "
                      "type int64");
  EXPECT_CONTAINS(error_of([&] { read_int_attr(file.get(), "task", path); }),
                  "root attribute 'task' must be a single integer, found 1 value(s) of type "
                  "string");
  EXPECT_CONTAINS(error_of([&] { read_string_attr(file.get(), "num_classes", path); }),
                  "root attribute 'num_classes' must be a single string, found 1 value(s) of "
                  "type int64");
  EXPECT_CONTAINS(error_of([&] { read_double_array_attr(file.get(), "task", path); }),
                  "root attribute 'task' must hold numbers, found type string");
  EXPECT_EQ(read_double_array_attr(file.get(), "pair", path), (std::vector<double>{3, 4}));
}

}  // namespace
}  // namespace frost::data
