#include "frost/core/error.h"

namespace frost {

Error::Error(const std::string& message) : std::runtime_error(message), message_(message) {
  render();
}

Error& Error::add_context(std::string context) {
  if (!context.empty()) {
    context_.insert(context_.begin(), std::move(context));
    render();
  }
  return *this;
}

Error& Error::set_rank(int rank) {
  if (rank_ < 0 && rank >= 0) {
    rank_ = rank;
    render();
  }
  return *this;
}

void Error::render() {
  std::string out;
  if (rank_ >= 0) out = "[rank " + std::to_string(rank_) + "] ";
  for (const auto& c : context_) out += c + ": ";
  what_ = out + message_;
}

}  // namespace frost
