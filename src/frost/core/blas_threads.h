// Thread pools of the BLAS library LibTorch calls for matrix products.
#pragma once

#include <string>

namespace frost {

/// Limits the BLAS library's own thread pool to `threads` (>= 1) threads, next to LibTorch's
/// intra-op pool (at::set_num_threads), which does not reach it: Debian's LibTorch calls
/// whatever libblas.so.3 the alternatives system selects, and OpenBLAS's pthread build starts
/// one thread per core by default (OpenBLAS wiki, "faq#multi-threaded"), so every rank of an
/// N-rank job on an N-core node would run N BLAS threads on its share of the cores.
/// Looks the setter up in the loaded libraries with dlsym: `openblas_set_num_threads`
/// (OpenBLAS) or `bli_thread_set_num_threads` (BLIS). Returns the name of the library it set
/// ("OpenBLAS", "BLIS"), or "" when neither is loaded (reference BLAS, MKL through LibTorch's
/// own at::set_num_threads): then there is nothing to set. Never throws.
std::string set_blas_threads(int threads);

/// The thread count of the loaded BLAS library's pool (`openblas_get_num_threads` or
/// `bli_thread_get_num_threads`), or -1 when neither library is loaded. Never throws.
int blas_threads();

/// Makes OpenBLAS use the kernels the CPU supports when it fell back to generic ones.
/// OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels from the CPU's family and
/// model when the library loads; a CPU newer than the library falls back to the generic
/// "Prescott" (SSE3) kernels: on an Intel model 207 (Emerald Rapids) with Debian 12's OpenBLAS
/// 0.3.21, a 1024^3 sgemm on one thread ran at 29 GFLOP/s, against 177 with the SkylakeX
/// (AVX-512) kernels. The choice can only be changed before the library loads, through the
/// environment variable OPENBLAS_CORETYPE (OpenBLAS README, "Setting the number of threads /
/// Core type"), so when OpenBLAS is loaded with a core below the CPU's features, this sets
/// OPENBLAS_CORETYPE to SkylakeX (AVX-512 F, BW, VL and DQ) or Haswell (AVX2 and FMA) and
/// re-executes the program (execv of /proc/self/exe with the same arguments), before MPI is
/// initialised, telling so on stderr (`program` names it). Does nothing when OPENBLAS_CORETYPE
/// is already set (the user's choice), when OpenBLAS is not loaded, when its core already
/// matches, or on the re-executed run. Returns only if it did not re-execute; never throws.
void use_native_blas_kernels(const char* program, char** argv);

}  // namespace frost
