// Unit tests of the file helpers (frost/core/fs.h).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "test_util.h"

namespace frost {
namespace {

// A fresh folder per test: ctest may run these tests in parallel (-j), and a shared one made
// them remove each other's files.
std::string fresh_root() { return testing::make_temp_dir("fs_remove_tree"); }

TEST(RemoveTree, RemovesNestedDirectoriesFilesAndLinks) {
  const std::string kRoot = fresh_root();
  fs::create_directories(kRoot + "/a/b/c");
  std::ofstream(kRoot + "/a/b/c/file") << "x";
  std::ofstream(kRoot + "/top") << "y";
  fs::create_directories(kRoot + "/outside");
  std::ofstream(kRoot + "/outside/kept") << "z";
  ASSERT_EQ(::symlink((kRoot + "/outside").c_str(), (kRoot + "/a/link").c_str()), 0);
  fs::remove_tree(kRoot + "/a");
  EXPECT_FALSE(fs::exists(kRoot + "/a"));
  EXPECT_TRUE(fs::exists(kRoot + "/outside/kept")) << "a symbolic link was followed";
  fs::remove_tree(kRoot);
  EXPECT_FALSE(fs::exists(kRoot));
}

TEST(RemoveTree, MissingPathIsNotAnError) {
  const std::string kRoot = fresh_root();
  EXPECT_NO_THROW(fs::remove_tree(kRoot + "/never/made"));
}

TEST(RemoveTree, SingleFile) {
  const std::string kRoot = fresh_root();
  fs::create_directories(kRoot);
  std::ofstream(kRoot + "/f") << "x";
  fs::remove_tree(kRoot + "/f");
  EXPECT_FALSE(fs::exists(kRoot + "/f"));
  fs::remove_tree(kRoot);
}

TEST(RemoveTree, UnremovableEntryIsNamed) {
  const std::string kRoot = fresh_root();
  if (::geteuid() == 0) GTEST_SKIP() << "root may remove entries of a read-only directory";
  fs::create_directories(kRoot + "/ro/d");
  ASSERT_EQ(::chmod((kRoot + "/ro").c_str(), 0500), 0);
  try {
    fs::remove_tree(kRoot + "/ro");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(kRoot + "/ro/d"), std::string::npos) << e.what();
  }
  ::chmod((kRoot + "/ro").c_str(), 0700);
  fs::remove_tree(kRoot);
}

}  // namespace
}  // namespace frost
