// Helpers shared by the test binaries (unit and MPI): paths of fixtures and temporary files,
// and checks of frost::Error messages. No LibTorch, no HDF5 (h5_test_util.h has the HDF5 ones).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "frost/core/error.h"
#include "frost/core/fs.h"

namespace frost::testing {

// Note [Relocated test binaries]: the build compiles the source and temporary folders into the
// test binaries (FROST_SOURCE_DIR, FROST_TEST_TMPDIR in tests/CMakeLists.txt). The GPU check kit
// (launch/bundle.sh, tests/gpu/check.sh) runs them on another machine, where those paths do not
// exist; there the environment variables of the same names, when set and non-empty, win.
inline const char* env_or_null(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

/// The temporary folder of the tests: $FROST_TEST_TMPDIR, else the build's (Note [Relocated
/// test binaries]).
inline std::string test_tmpdir() {
  if (const char* v = env_or_null("FROST_TEST_TMPDIR")) return v;
  return FROST_TEST_TMPDIR;
}

/// The repository root: $FROST_SOURCE_DIR (Note [Relocated test binaries]), the build's
/// FROST_SOURCE_DIR (tests/CMakeLists.txt), or found from this file.
inline std::string source_dir() {
  if (const char* v = env_or_null("FROST_SOURCE_DIR")) return v;
#ifdef FROST_SOURCE_DIR
  return FROST_SOURCE_DIR;
#else
  const std::string here = __FILE__;  // <root>/tests/test_util.h
  return here.substr(0, here.rfind("/tests/"));
#endif
}

/// tests/fixtures/<name> (made by the scripts next to the fixtures).
inline std::string fixture_path(const std::string& name) {
  return source_dir() + "/tests/fixtures/" + name;
}

/// FROST_TEST_TMPDIR/<name> (the directory is created; the file is not, nor removed).
inline std::string tmp_path(const std::string& name) {
  const std::string dir = test_tmpdir();
  std::filesystem::create_directories(dir);
  return dir + "/" + name;
}

/// A fresh, empty directory under FROST_TEST_TMPDIR named `tag`-XXXXXX, for one test.
inline std::string make_temp_dir(const std::string& tag = "test") {
  const std::string base = test_tmpdir();
  std::filesystem::create_directories(base);
  std::string templ = base + "/" + tag + "-XXXXXX";
  const char* dir = ::mkdtemp(templ.data());
  if (dir == nullptr) throw std::runtime_error("mkdtemp failed under " + base);
  return dir;
}

/// A fresh, empty directory named after the running test:
/// FROST_TEST_TMPDIR/<Suite>.<Name>.<pid> (removed first if it exists).
inline std::string test_dir() {
  const std::string base = test_tmpdir();
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir =
      base + "/" + info->test_suite_name() + "." + info->name() + "." + std::to_string(::getpid());
  frost::fs::remove_tree(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

/// Writes `bytes` to `path` as they are (binary), replacing the file.
inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

/// Runs `f` and returns the message of the frost::Error it throws; records a test failure
/// when it throws none.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const frost::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a frost::Error";
  return "";
}

/// Expects `fn` to throw frost::Error whose message contains every one of `needles`.
template <typename Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "expected frost::Error, nothing thrown";
  } catch (const frost::Error& e) {
    const std::string msg = e.what();
    for (const auto& needle : needles) {
      EXPECT_NE(msg.find(needle), std::string::npos)
          << "message: " << msg << "\nexpected it to contain: " << needle;
    }
  }
}

/// Expects `fn` to throw frost::Error whose message contains `needle`.
template <typename Fn>
void expect_error_containing(Fn&& fn, const std::string& needle) {
  expect_error(std::forward<Fn>(fn), {needle});
}

}  // namespace frost::testing

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "in: " << (text)
