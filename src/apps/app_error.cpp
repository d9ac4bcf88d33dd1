#include "apps/app_error.h"

#include <cstdio>

#include "frost/core/strings.h"

namespace frost::apps {

// The one writer of the line of Note [Error line] (app_error.h), which launch/frost-mpirun parses.
void print_error_line(std::string_view program, const Error& error) {
  // One write of the whole line, so that lines of ranks sharing a terminal do not interleave.
  const std::string line =
      detail::str_cat(program, ": error: ", printable(without_backtrace(error.what())), "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

std::string without_backtrace(std::string text) {
  const size_t marker = text.find("Exception raised from ");
  if (marker == std::string::npos) return text;
  text.erase(marker);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\t'))
    text.pop_back();
  return text;
}

Error to_error(const std::exception& e) {
  if (const auto* error = dynamic_cast<const Error*>(&e)) return *error;
  return Error(e.what());
}

int run_program(std::string_view program, const std::function<int()>& body, int error_exit_status,
                DescribeError describe) {
  try {
    return body();
  } catch (const std::exception& e) {
    print_error_line(program, describe(e));
  } catch (...) {
    print_error_line(program, Error("an exception that is not a std::exception"));
  }
  return error_exit_status;
}

}  // namespace frost::apps
