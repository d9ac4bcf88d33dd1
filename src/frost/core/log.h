// Logging: spdlog with the rank in every line. Human summaries come from rank 0 only
// (use log::is_rank0()); warnings and errors from any rank.
#pragma once

#include <string>

namespace frost::log {

/// Sets the default spdlog logger's pattern to "[HH:MM:SS.mmm] [rank r/world] [level] msg" on
/// stderr and its level to `level` (trace|debug|info|warn|error); the environment variable
/// SPDLOG_LEVEL, when set, overrides it (spdlog's cfg::load_env_levels).
void init(int rank, int world_size, const std::string& level);
bool is_rank0();

}  // namespace frost::log
