#include "frost/comm/mpi/mpi_check.h"

#include <unistd.h>

#include <cstring>

#include "frost/comm/process.h"
#include "frost/core/error.h"

namespace frost::comm {

std::string source_path(const char* file) {
  const std::string path = file;
  size_t best = std::string::npos;
  for (const char* root : {"/src/frost/", "/tests/"}) {
    const size_t at = path.rfind(root);
    if (at != std::string::npos && (best == std::string::npos || at > best)) best = at;
  }
  return best == std::string::npos ? path : path.substr(best + 1);
}

std::string this_host() {
  char host[256] = "?";
  if (gethostname(host, sizeof host) != 0) std::strcpy(host, "?");
  host[sizeof host - 1] = '\0';
  return host;
}

std::string mpi_error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) {
    return "MPI error " + std::to_string(code);
  }
  return std::string(text, static_cast<size_t>(length));
}

void throw_mpi_error(int code, const char* call, const char* file, int line) {
  Error error(detail::str_cat(call, " failed at ", source_path(file), ":", line, " on host ",
                              this_host(), ": ", mpi_error_string(code)));
  error.set_rank(process_rank());
  throw error;
}

MpiRankPlace mpi_rank_place(MPI_Comm comm) {
  MpiRankPlace place;
  MPI_CHECK(MPI_Comm_rank(comm, &place.rank));
  MPI_CHECK(MPI_Comm_size(comm, &place.world_size));
  MPI_Comm local = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, place.rank, MPI_INFO_NULL, &local));
  struct FreeLocal {
    MPI_Comm* comm;
    ~FreeLocal() { MPI_Comm_free(comm); }
  } free_local{&local};
  MPI_CHECK(MPI_Comm_rank(local, &place.local_rank));
  MPI_CHECK(MPI_Comm_size(local, &place.local_world_size));
  char name[MPI_MAX_PROCESSOR_NAME];
  int length = 0;
  MPI_CHECK(MPI_Get_processor_name(name, &length));
  place.host.assign(name, static_cast<size_t>(length));
  return place;
}

}  // namespace frost::comm
