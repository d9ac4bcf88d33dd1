// Helpers shared by the libFuzzer targets in tests/fuzz/ (see docs/reliability.md, "Fuzzing").
//
// Note [What counts as a finding]
// Every parser of outside input must, for any bytes, either succeed or throw frost::Error (a
// message for the user). Anything else is a finding, and the target aborts so that libFuzzer
// keeps the input: another exception type (std::out_of_range from a library call,
// frost::InternalError from a FROST_ASSERT, std::bad_alloc), a crash, a sanitizer report, a
// hang (libFuzzer -timeout), an allocation above libFuzzer's -malloc_limit_mb, a leak, or a
// broken property of a successful result (FUZZ_EXPECT).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <typeinfo>

#include "frost/core/error.h"

namespace frost::fuzz {

/// Runs `f`; returns true when it returned, false when it threw frost::Error. Any other
/// exception is a finding: prints its type and message and aborts.
template <typename F>
bool succeeds_or_frost_error(F&& f) {
  try {
    f();
    return true;
  } catch (const frost::Error&) {
    return false;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FINDING: exception of type %s (not frost::Error): %s\n",
                 typeid(e).name(), e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "FINDING: a non-std::exception was thrown\n");
    std::abort();
  }
}

/// A file whose contents the target sets, for parsers that take a path. It lives in memory
/// (memfd) and is reached through /proc/self/fd/N, which opens it afresh (own file offset), so
/// nothing is written to disk and every input costs no more than a copy.
class MemFile {
 public:
  MemFile() {
    fd_ = ::memfd_create("frost-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  /// Replaces the file's contents with [data, data + size) and returns its path.
  const std::string& set(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) {
      std::perror("ftruncate");
      std::abort();
    }
    size_t done = 0;
    while (done < size) {
      const ssize_t w = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (w <= 0) {
        std::perror("pwrite");
        std::abort();
      }
      done += static_cast<size_t>(w);
    }
    return path_;
  }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace frost::fuzz

/// A property of a successful parse; a violation is a finding (Note [What counts as a finding]).
#define FUZZ_EXPECT(cond)                                                                  \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "FINDING: %s:%d: property violated: %s\n", __FILE__, __LINE__, \
                   #cond);                                                                 \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)
