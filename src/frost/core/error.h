// Error handling for Frost.
//
// Two kinds of check, after PyTorch's c10/util/Exception.h:
//   FROST_CHECK(cond, msg...)   bad input, config or data: throws frost::Error with a
//                               message written for the user (what was expected, what was
//                               found, how to fix it).
//   FROST_ASSERT(cond, msg...)  an internal invariant: throws frost::InternalError, which
//                               means a bug in Frost, with file:line.
// Library code never calls exit(); the app runner catches, prints one line and ends the whole
// job (src/apps/app_runner.h).
//
// Note [Error context]
// An error is raised where the fault is seen, with what that place knows ("/labels[1042] = 12
// is outside [0, 10)"). The callers it passes through on the way up add what they know (the
// file, the config key, the rank) with FROST_RETHROW or with_error_context, after c10's
// TORCH_RETHROW, instead of catching, gluing a string prefix and throwing a new error: the
// type (TimeoutError stays a TimeoutError) and the innermost message are kept, and the form
// of the full message is decided in one place, Error::what():
//
//     [rank R] outermost context: ...: innermost context: message
//
// The rank is recorded once, by the first layer that knows it (a communicator, the Trainer,
// the app runner), so a message never says "[rank 1] [rank 1]". Without a rank the prefix is
// left out.
//
// This header is deliberately light (no LibTorch, no MPI) so that every file can include it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace frost {

/// A user-facing error: bad input, config or data. what() is complete and is printed as it is
/// (Note [Error context]).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message);

  /// "[rank R] context...: message" (Note [Error context]).
  const char* what() const noexcept override { return what_.c_str(); }
  /// The message as raised, without rank or context.
  const std::string& message() const noexcept { return message_; }
  /// Contexts added so far, outermost first.
  const std::vector<std::string>& context() const noexcept { return context_; }
  /// The rank recorded with set_rank, or -1.
  int rank() const noexcept { return rank_; }

  /// Adds `context` (e.g. "data.train", a file name) outside what the error says so far.
  /// An empty context is ignored. Returns *this.
  Error& add_context(std::string context);
  /// Records the rank that raised the error unless one is recorded already (the innermost
  /// layer that knows it wins). Returns *this.
  Error& set_rank(int rank);

 private:
  void render();

  std::string message_;
  std::vector<std::string> context_;  // outermost first
  int rank_ = -1;
  std::string what_;
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

/// Runs `f()` and returns its result; a frost::Error escaping it gets `context` added
/// (Note [Error context]).
template <typename F>
decltype(auto) with_error_context(const std::string& context, F&& f) {
  try {
    return f();
  } catch (Error& e) {
    e.add_context(context);
    throw;
  }
}

/// Runs `f()` and returns its result; a frost::Error escaping it records `rank` unless it
/// names one already (Note [Error context]).
template <typename F>
decltype(auto) with_rank(int rank, F&& f) {
  try {
    return f();
  } catch (Error& e) {
    e.set_rank(rank);
    throw;
  }
}

}  // namespace frost

#define FROST_CHECK(cond, ...)                                     \
  do {                                                             \
    if (!(cond)) {                                                 \
      throw ::frost::Error(::frost::detail::str_cat(__VA_ARGS__)); \
    }                                                              \
  } while (0)

#define FROST_ASSERT(cond, ...)                                                                    \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      throw ::frost::InternalError(::frost::detail::str_cat("internal error (a bug in Frost) at ", \
                                                            __FILE__, ":", __LINE__, ": ", #cond,  \
                                                            ": ", ##__VA_ARGS__));                 \
    }                                                                                              \
  } while (0)

/// Inside `catch (frost::Error& e)`: adds the context built from the arguments and rethrows the
/// same exception object (its type is kept), as c10's TORCH_RETHROW.
#define FROST_RETHROW(e, ...)                               \
  do {                                                      \
    (e).add_context(::frost::detail::str_cat(__VA_ARGS__)); \
    throw;                                                  \
  } while (0)
