#include "frost/core/blas_threads.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace frost {
namespace {
template <typename Fn>
Fn lookup(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}
}  // namespace

std::string set_blas_threads(int threads) {
  if (threads < 1) threads = 1;
  if (auto f = lookup<void (*)(int)>("openblas_set_num_threads")) {
    f(threads);
    return "OpenBLAS";
  }
  if (auto f = lookup<void (*)(long)>(
          "bli_thread_set_num_threads")) {  // NOLINT(runtime/int): BLIS's signature
    f(threads);
    return "BLIS";
  }
  return "";
}

bool set_openmp_threads_of_this_thread(int threads) {
  if (auto f = lookup<void (*)(int)>("omp_set_num_threads")) {
    f(std::max(threads, 1));
    return true;
  }
  return false;
}

int blas_threads() {
  if (auto f = lookup<int (*)()>("openblas_get_num_threads")) return f();
  if (auto f = lookup<long (*)()>("bli_thread_get_num_threads"))
    return static_cast<int>(f());  // NOLINT(runtime/int)
  return -1;
}

}  // namespace frost
