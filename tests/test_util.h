// Helpers shared by the single-process test binaries.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "frost/core/error.h"

namespace frost::testing {

/// A fresh, empty directory under FROST_TEST_TMPDIR named `tag`-XXXXXX, for one test.
inline std::string make_temp_dir(const std::string& tag = "test") {
  const std::string base = FROST_TEST_TMPDIR;
  std::filesystem::create_directories(base);
  std::string templ = base + "/" + tag + "-XXXXXX";
  const char* dir = ::mkdtemp(templ.data());
  if (dir == nullptr) throw std::runtime_error("mkdtemp failed under " + base);
  return dir;
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

}  // namespace frost::testing

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "in: " << (text)
