// Error handling for Frost.
//
// Two kinds of check, after PyTorch's c10/util/Exception.h:
//   FROST_CHECK(cond, msg...)   bad input, config or data: throws frost::Error with a
//                               message written for the user (what was expected, what was
//                               found, how to fix it).
//   FROST_ASSERT(cond, msg...)  an internal invariant: throws frost::InternalError, which
//                               means a bug in Frost, with file:line.
// Library code never calls exit(); the app mains catch, log and end the whole job
// (see Note [Failing the whole job] in src/apps/frost_train.cpp).
//
// This header is deliberately light (no LibTorch, no MPI) so that every file can include it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace frost {

/// A user-facing error: bad input, config or data. The message is complete and is
/// printed as it is; callers add the rank when they log it.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A collective did not complete within `dist.timeout_s`.
class TimeoutError : public Error {
 public:
  using Error::Error;
};

/// A broken internal invariant (a bug in Frost).
class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

namespace detail {
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace frost

#define FROST_CHECK(cond, ...)                                      \
  do {                                                              \
    if (!(cond)) {                                                  \
      throw ::frost::Error(::frost::detail::str_cat(__VA_ARGS__)); \
    }                                                               \
  } while (0)

#define FROST_ASSERT(cond, ...)                                                          \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      throw ::frost::InternalError(::frost::detail::str_cat(                            \
          "internal error (a bug in Frost) at ", __FILE__, ":", __LINE__, ": ", #cond, \
          ": ", ##__VA_ARGS__));                                                         \
    }                                                                                    \
  } while (0)
