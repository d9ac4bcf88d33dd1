// Tasks multilabel and regression in the schema: /targets written and read back (H5Dataset::
// read_targets), the validation errors at open (a 2 in a multilabel row, a NaN target, shapes,
// shards that disagree), and the label-column parsing of the converters (parse_task_targets).
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/task_targets.h"
#include "h5_test_util.h"
#include "test_util.h"

namespace {

using frost::data::DatasetInfo, frost::data::H5Dataset, frost::data::Task,
    frost::data::write_dataset;
using frost::testing::edit_file, frost::testing::error_of, frost::testing::feature_info,
    frost::testing::make_temp_dir, frost::testing::replace_dataset;

// n rows of 2 features; task `task` with k targets: multilabel (i + j) % 2, regression
// i * 0.5 - j.
std::string write_task_file(const std::string& path, Task task, int64_t n, int64_t k,
                            int64_t chunk_rows = 3) {
  DatasetInfo info = feature_info(n, 2, k);
  info.task = frost::data::task_name(task);
  info.num_targets = k;
  std::vector<float> x(static_cast<size_t>(n * 2)), t(static_cast<size_t>(n * k));
  for (int64_t i = 0; i < n; ++i) {
    x[static_cast<size_t>(2 * i)] = static_cast<float>(i);
    x[static_cast<size_t>(2 * i + 1)] = -static_cast<float>(i);
    for (int64_t j = 0; j < k; ++j)
      t[static_cast<size_t>(i * k + j)] = task == Task::kMultilabel
                                              ? static_cast<float>((i + j) % 2)
                                              : static_cast<float>(i) * 0.5f - static_cast<float>(j);
  }
  frost::data::WriteOptions opt;
  opt.chunk_rows = chunk_rows;
  opt.targets = t.data();
  write_dataset(path, info, x.data(), nullptr, opt);
  return path;
}

TEST(TaskTargets, MultilabelRoundTrip) {
  const std::string dir = make_temp_dir();
  const std::string path = write_task_file(dir + "/m.h5", Task::kMultilabel, 7, 3);
  EXPECT_EQ(frost::testing::read_int64_attr(path, "num_classes"), std::vector<int64_t>{3});
  const H5Dataset ds = H5Dataset::open({path});
  EXPECT_EQ(ds.info().task, "multilabel");
  EXPECT_EQ(ds.info().num_classes, 3);
  EXPECT_EQ(ds.info().num_targets, 3);
  std::vector<float> x(4), t(6);
  ds.read({5, 2}, x.data(), nullptr);
  ds.read_targets({5, 2}, t.data());
  EXPECT_EQ(x, (std::vector<float>{5, -5, 2, -2}));
  EXPECT_EQ(t, (std::vector<float>{1, 0, 1, 0, 1, 0}));
  // Stored as uint8 (exact 0/1, a quarter of float32's bytes).
  // With Frost's read-only file access list: HDF5 refuses a second open, in one process, of a
  // file already open (ds above) with other file-locking settings.
  frost::data::H5Lock lock;
  const frost::data::H5Id fapl = frost::data::make_read_fapl(path);
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  const hid_t dset = H5Dopen2(file, "targets", H5P_DEFAULT);
  const hid_t type = H5Dget_type(dset);
  EXPECT_EQ(H5Tget_class(type), H5T_INTEGER);
  EXPECT_EQ(H5Tget_size(type), 1u);
  H5Tclose(type);
  H5Dclose(dset);
  H5Fclose(file);
}

TEST(TaskTargets, RegressionRoundTripAcrossShards) {
  const std::string dir = make_temp_dir();
  write_task_file(dir + "/r-0.h5", Task::kRegression, 5, 2);
  write_task_file(dir + "/r-1.h5", Task::kRegression, 4, 2);
  EXPECT_EQ(frost::testing::read_int64_attr(dir + "/r-0.h5", "num_targets"),
            std::vector<int64_t>{2});
  EXPECT_TRUE(frost::testing::read_int64_attr(dir + "/r-0.h5", "num_classes").empty());
  const H5Dataset ds = H5Dataset::open({dir + "/r-*.h5"});
  EXPECT_EQ(ds.info().task, "regression");
  EXPECT_EQ(ds.size(), 9);
  std::vector<float> t(4);
  ds.read_targets({6, 1}, t.data());  // row 1 of shard 1, row 1 of shard 0
  EXPECT_EQ(t, (std::vector<float>{0.5f, -0.5f, 0.5f, -0.5f}));
  // Labels are not there to read; targets are not there for classification.
  std::vector<float> x(2);
  std::vector<int64_t> y(1);
  EXPECT_CONTAINS(error_of([&] { ds.read({0}, x.data(), y.data()); }),
                  "labels were requested but");
  EXPECT_CONTAINS(error_of([&] { ds.read_targets({9}, t.data()); }), "index 9 (position 0)");
}

TEST(TaskTargets, MultilabelValueOtherThanZeroOrOneNamesIndex) {
  const std::string dir = make_temp_dir();
  const std::string path = write_task_file(dir + "/m.h5", Task::kMultilabel, 6, 3);
  edit_file(path, [](hid_t file) {
    std::vector<uint8_t> t(18, 0);
    t[4 * 3 + 1] = 2;
    replace_dataset(file, "targets", H5T_STD_U8LE, {6, 3}, t.data(), H5T_NATIVE_UINT8);
  });
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({path}); }),
                  path + ": /targets[4][1] = 2 but a multilabel target is 0 or 1");
}

TEST(TaskTargets, RegressionNaNNamesIndex) {
  const std::string dir = make_temp_dir();
  const std::string path = write_task_file(dir + "/r.h5", Task::kRegression, 6, 2);
  edit_file(path, [](hid_t file) {
    std::vector<float> t(12, 1.0f);
    t[3 * 2 + 0] = std::numeric_limits<float>::quiet_NaN();
    replace_dataset(file, "targets", H5T_IEEE_F32LE, {6, 2}, t.data(), H5T_NATIVE_FLOAT);
  });
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({path}); }),
                  path + ": /targets[3][0] = nan is not finite");
}

TEST(TaskTargets, ShapeAndDtypeMismatches) {
  const std::string dir = make_temp_dir();
  const std::string path = write_task_file(dir + "/r.h5", Task::kRegression, 6, 2);
  edit_file(path, [](hid_t file) {
    std::vector<float> t(18, 1.0f);
    replace_dataset(file, "targets", H5T_IEEE_F32LE, {6, 3}, t.data(), H5T_NATIVE_FLOAT);
  });
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({path}); }),
                  path + ": /targets has shape [6, 3] but must be [N, K] = [6, 2]");
  edit_file(path, [](hid_t file) {
    std::vector<int64_t> t(12, 1);
    replace_dataset(file, "targets", H5T_STD_I64LE, {6, 2}, t.data(), H5T_NATIVE_INT64);
  });
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({path}); }),
                  path + ": /targets has dtype int64 but task regression needs float");
  edit_file(path, [](hid_t file) { ASSERT_GE(H5Ldelete(file, "targets", H5P_DEFAULT), 0); });
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({path}); }),
                  path + ": dataset /targets is missing; a file with task = regression");
}

TEST(TaskTargets, ShardsOfDifferentTasksOrWidthsDisagree) {
  const std::string dir = make_temp_dir();
  write_task_file(dir + "/a.h5", Task::kRegression, 4, 2);
  write_task_file(dir + "/b.h5", Task::kMultilabel, 4, 2);
  write_task_file(dir + "/c.h5", Task::kRegression, 4, 3);
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({dir + "/a.h5", dir + "/b.h5"}); }),
                  "dataset shards disagree on task: '" + dir + "/a.h5' has regression but '" +
                      dir + "/b.h5' has multilabel");
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({dir + "/a.h5", dir + "/c.h5"}); }),
                  "dataset shards disagree on num_classes");
}

TEST(TaskTargets, WriterRefusesBadTargets) {
  const std::string dir = make_temp_dir();
  DatasetInfo info = feature_info(2, 1, 2);
  info.task = "multilabel";
  info.num_targets = 2;
  const std::vector<float> x{0, 1}, t{0, 1, 0.5f, 1};
  frost::data::WriteOptions opt;
  opt.targets = t.data();
  EXPECT_CONTAINS(error_of([&] { write_dataset(dir + "/m.h5", info, x.data(), nullptr, opt); }),
                  "targets[1][0] = 0.5 but a multilabel target is 0 or 1");
  const std::vector<int64_t> y{0, 1};
  EXPECT_CONTAINS(error_of([&] { write_dataset(dir + "/m.h5", info, x.data(), y.data(), opt); }),
                  "task multilabel needs targets (and no labels)");
  info.task = "regresion";
  EXPECT_CONTAINS(error_of([&] { write_dataset(dir + "/m.h5", info, x.data(), nullptr, opt); }),
                  "unknown task 'regresion'");
}

TEST(TaskTargets, ParseMultilabelCells) {
  const auto t = frost::data::parse_task_targets(Task::kMultilabel, {"b|a", "", "c", "a|c"},
                                                 {2, 3, 4, 5}, "x.csv");
  EXPECT_EQ(t.k, 3);
  EXPECT_EQ(t.names, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(t.values, (std::vector<float>{1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1}));
  // Integer names in numeric order, "01" and "1" one label.
  const auto n = frost::data::parse_task_targets(Task::kMultilabel, {"10|2", "01", "1"},
                                                 {2, 3, 4}, "x.csv");
  EXPECT_EQ(n.names, (std::vector<std::string>{"1", "2", "10"}));
  EXPECT_EQ(n.values, (std::vector<float>{0, 1, 1, 1, 0, 0, 1, 0, 0}));
  EXPECT_CONTAINS(error_of([] {
                    frost::data::parse_task_targets(Task::kMultilabel, {"a", "a||b"}, {2, 3},
                                                    "x.csv");
                  }),
                  "x.csv: line 3: an empty label name in 'a||b'");
}

TEST(TaskTargets, ParseRegressionCells) {
  const auto t = frost::data::parse_task_targets(Task::kRegression, {"1.5|-2", "0|3e2"},
                                                 {2, 3}, "y.csv");
  EXPECT_EQ(t.k, 2);
  EXPECT_EQ(t.names, (std::vector<std::string>{"target_0", "target_1"}));
  EXPECT_EQ(t.values, (std::vector<float>{1.5f, -2.0f, 0.0f, 300.0f}));
  EXPECT_CONTAINS(error_of([] {
                    frost::data::parse_task_targets(Task::kRegression, {"1|2", "3"}, {2, 3},
                                                    "y.csv");
                  }),
                  "y.csv: line 3: 1 target value(s) but the first row has 2");
  for (const std::string bad : {"nan", "inf", "1e999", "x", "", "1.5x"}) {
    EXPECT_CONTAINS(error_of([&] {
                      frost::data::parse_task_targets(Task::kRegression, {"1", bad}, {2, 7},
                                                      "y.csv");
                    }),
                    "y.csv: line 7: target 0 = '" + bad + "' is not a finite number");
  }
}

}  // namespace
