#include "frost/comm/nccl/nccl_check.h"

#include "frost/comm/mpi/mpi_check.h"
#include "frost/comm/process.h"
#include "frost/core/error.h"

namespace frost::comm {

std::string nccl_error_text(ncclResult_t result, ncclComm_t comm) {
  std::string text = ncclGetErrorString(result);
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && *last != '\0') text += detail::str_cat("; last NCCL error: ", last);
  return text;
}

void throw_nccl_error(ncclResult_t result, const char* call, const char* file, int line,
                      ncclComm_t comm) {
  Error error(detail::str_cat(call, " failed at ", source_path(file), ":", line, " on host ",
                              this_host(), ": ", nccl_error_text(result, comm)));
  error.set_rank(process_rank());
  throw error;
}

void throw_cuda_error(cudaError_t code, const char* call, const char* file, int line) {
  cudaGetLastError();  // clears a non-sticky error; a sticky one stays whatever we do
  Error error(detail::str_cat(call, " failed at ", source_path(file), ":", line, " on host ",
                              this_host(), ": ", cudaGetErrorName(code), " (",
                              cudaGetErrorString(code), ")"));
  error.set_rank(process_rank());
  throw error;
}

}  // namespace frost::comm
