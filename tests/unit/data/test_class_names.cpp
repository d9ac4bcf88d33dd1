// read_class_names: label_values first, else class_ids as decimal text, else none; a list of
// another length than num_classes is ignored; a label_values that is not a JSON list of strings
// is an error naming the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/data/class_names.h"
#include "frost/data/h5_dataset.h"
#include "h5_test_util.h"
#include "test_util.h"

namespace frost::data {
namespace {

std::string write(const std::string& name, const WriteOptions& options) {
  const std::string dir = frost::testing::test_tmpdir() + "/class-names";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/" + name;
  const std::vector<float> x(4 * 2, 0.5f);
  const std::vector<int64_t> y = {0, 1, 2, 1};
  write_dataset(path, frost::testing::feature_info(4, 2, 3), x.data(), y.data(), options);
  return path;
}

TEST(ClassNames, LabelValuesThenClassIdsThenNone) {
  WriteOptions both;
  both.string_attributes["label_values"] = R"(["neg", "neu", "pos"])";
  both.int64_attributes["class_ids"] = {5, 6, 7};
  EXPECT_EQ(read_class_names(write("both.h5", both), 3),
            (std::vector<std::string>{"neg", "neu", "pos"}));
  WriteOptions ids;
  ids.int64_attributes["class_ids"] = {5, 6, 9};
  EXPECT_EQ(read_class_names(write("ids.h5", ids), 3), (std::vector<std::string>{"5", "6", "9"}));
  EXPECT_TRUE(read_class_names(write("none.h5", WriteOptions()), 3).empty());
  WriteOptions short_list;
  short_list.int64_attributes["class_ids"] = {5, 6};
  EXPECT_TRUE(read_class_names(write("short.h5", short_list), 3).empty());
}

TEST(ClassNames, LabelValuesThatAreNotAListOfStringsNameTheFile) {
  WriteOptions bad;
  bad.string_attributes["label_values"] = "[1, 2, 3]";
  const std::string path = write("bad.h5", bad);
  try {
    read_class_names(path, 3);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": root attribute label_values holds a number"),
              std::string::npos)
        << e.what();
  }
}

// Note [Class names of a run]: the first index where both lists name a class differently; a
// list without names, or a shorter one that agrees with the start of the longer, is no mismatch.
TEST(ClassNames, MismatchNamesTheFirstDifferingIndex) {
  const std::vector<std::string> abc = {"ant", "bee", "cat"};
  EXPECT_EQ(class_name_mismatch(abc, "A", abc, "B"), "");
  EXPECT_EQ(class_name_mismatch(abc, "A", {}, "B"), "");
  EXPECT_EQ(class_name_mismatch({}, "A", abc, "B"), "");
  EXPECT_EQ(class_name_mismatch(abc, "A", {"ant", "bee"}, "B"), "");
  EXPECT_EQ(class_name_mismatch(abc, "train.h5", {"ant", "cow", "dog"}, "test.h5"),
            "class 1 is 'bee' in train.h5 but 'cow' in test.h5");
  EXPECT_EQ(class_name_mismatch({"bee", "ant"}, "A", {"ant", "bee"}, "B"),
            "class 0 is 'bee' in A but 'ant' in B");
}

TEST(ClassNames, RunRecordReadBackOrAbsentOrAnError) {
  const std::string dir = frost::testing::test_tmpdir() + "/run-class-names";
  fs::remove_tree(dir);
  std::filesystem::create_directories(dir);
  EXPECT_TRUE(read_run_class_names(dir).empty());  // no record: an older run, or no names
  const auto put = [&](const std::string& text) {
    std::ofstream(dir + "/" + kRunClassNames) << text;
  };
  put(R"({"classes": ["ant", "bee, the"]})");
  EXPECT_EQ(read_run_class_names(dir), (std::vector<std::string>{"ant", "bee, the"}));
  for (const std::string bad : {"{", R"({"names": []})", R"({"classes": [1]})", "[]"}) {
    put(bad);
    try {
      read_run_class_names(dir);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(dir + "/classes.json"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace frost::data
