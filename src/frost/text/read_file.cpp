#include "frost/text/read_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "frost/core/error.h"

namespace frost::text {

std::string read_text_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  FROST_CHECK(in, path, ": cannot open the ", what, " (", std::strerror(errno), ")");
  std::ostringstream ss;
  ss << in.rdbuf();
  FROST_CHECK(!in.bad(), path, ": error reading the ", what);
  return ss.str();
}

}  // namespace frost::text
