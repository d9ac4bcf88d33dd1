#include "frost/core/log.h"

#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace frost::log {

namespace {
int g_rank = 0;
}

void init(int rank, int world_size, const std::string& level) {
  g_rank = rank;
  auto logger = spdlog::stderr_color_mt("frost-" + std::to_string(rank));
  logger->set_pattern("[%H:%M:%S.%e] [rank " + std::to_string(rank) + "/" +
                      std::to_string(world_size) + "] [%^%l%$] %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
  spdlog::cfg::load_env_levels();
  spdlog::flush_on(spdlog::level::info);
}

bool is_rank0() { return g_rank == 0; }

}  // namespace frost::log
