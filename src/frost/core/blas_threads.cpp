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

int blas_threads() {
  if (auto f = lookup<int (*)()>("openblas_get_num_threads")) return f();
  if (auto f = lookup<long (*)()>("bli_thread_get_num_threads"))
    return static_cast<int>(f());  // NOLINT(runtime/int)
  return -1;
}

void use_native_blas_kernels(const char* program, char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr || std::getenv("FROST_BLAS_REEXEC") != nullptr)
    return;
  auto corename = lookup<char* (*)()>("openblas_get_corename");
  if (corename == nullptr || corename() == nullptr) return;
  std::string core = corename();
  std::transform(core.begin(), core.end(), core.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  // OpenBLAS core names with AVX-512 and with AVX2 single-precision GEMM kernels.
  const std::vector<std::string> avx512 = {"skylakex", "cooperlake", "sapphirerapids"};
  const std::vector<std::string> avx2 = {"haswell", "zen", "skylakex", "cooperlake",
                                         "sapphirerapids"};
  auto in = [&](const std::vector<std::string>& names) {
    return std::find(names.begin(), names.end(), core) != names.end();
  };
  __builtin_cpu_init();
  const char* want = nullptr;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    if (!in(avx512)) want = "SkylakeX";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    if (!in(avx2)) want = "Haswell";
  }
  if (want == nullptr) return;
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  if (rank == nullptr || std::string(rank) == "0") {
    std::fprintf(
        stderr,
        "%s: notice: OpenBLAS chose its '%s' kernels, below what this CPU supports (the CPU is "
        "newer than the library); restarting with OPENBLAS_CORETYPE=%s (set OPENBLAS_CORETYPE "
        "to choose yourself)\n",
        program, corename(), want);
  }
  setenv("OPENBLAS_CORETYPE", want, 1);
  setenv("FROST_BLAS_REEXEC", "1", 1);
  execv("/proc/self/exe", argv);
  // execv failed: carry on with the generic kernels (slower, still correct).
  unsetenv("OPENBLAS_CORETYPE");
}

}  // namespace frost
