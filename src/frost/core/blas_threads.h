// Thread pools of the BLAS library LibTorch calls for matrix products.
#pragma once

#include <string>

namespace frost {

/// Limits the BLAS library's own thread pool to `threads` (>= 1) threads, next to LibTorch's
/// intra-op pool (at::set_num_threads), which does not reach it when LibTorch was built against
/// OpenBLAS or BLIS (a cluster's own LibTorch may be; PyPI's uses MKL, which at::set_num_threads
/// sizes): OpenBLAS's pthread build starts one thread per core by default (OpenBLAS wiki,
/// "faq#multi-threaded"), so every rank of an N-rank job on an N-core node would run N BLAS
/// threads on its share of the cores.
/// Looks the setter up in the loaded libraries with dlsym: `openblas_set_num_threads`
/// (OpenBLAS) or `bli_thread_set_num_threads` (BLIS). Returns the name of the library it set
/// ("OpenBLAS", "BLIS"), or "" when neither is loaded (reference BLAS, MKL through LibTorch's
/// own at::set_num_threads): then there is nothing to set. Never throws.
std::string set_blas_threads(int threads);

/// Sets the OpenMP team size of the CALLING thread's parallel regions to `threads` (>= 1):
/// omp_set_num_threads, looked up with dlsym in the loaded OpenMP runtime (LibTorch's libgomp on
/// PyPI builds, libiomp5 on others). OpenMP keeps this count (the nthreads-var ICV) per thread,
/// so other threads, the training step's included, keep theirs. Call it after LibTorch has
/// initialised the thread's own count (at::get_num_threads() once), which would otherwise
/// overwrite it at the thread's first parallel operation. Returns false when no OpenMP runtime
/// is loaded (a LibTorch built with its native thread pool): nothing to set. Never throws.
bool set_openmp_threads_of_this_thread(int threads);

/// The thread count of the loaded BLAS library's pool (`openblas_get_num_threads` or
/// `bli_thread_get_num_threads`), or -1 when neither library is loaded. Never throws.
int blas_threads();


}  // namespace frost
