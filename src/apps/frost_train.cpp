// frost-train: data-parallel fine-tuning under mpirun.
//
//   mpirun -np 2 frost-train --config configs/fashion-mnist-b-head.ini [--section.key value ...]
//
// Top-down: the app runner (MPI, options on every rank, --help, the failure
// path: app_runner.h) -> logging + banner -> Trainer (set-up, epochs, save) -> table.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "apps/app_runner.h"
#include "frost/comm/communicator.h"
#include "frost/core/blas_threads.h"
#include "frost/core/log.h"
#include "frost/core/preemption.h"
#include "frost/train/config.h"
#include "frost/train/trainer.h"

namespace {

// The run's first line; the Trainer adds the rank -> host -> device table once it has placed
// the ranks (Note [Device per rank]).
void print_banner(frost::comm::Communicator& comm, const frost::train::Config& cfg) {
  if (comm.rank() != 0) return;
  spdlog::info("frost-train: world size {}, backend {}, LibTorch {}, config {}", comm.world_size(),
               comm.backend(), TORCH_VERSION, cfg.config_file.empty() ? "(none)" : cfg.config_file);
}

void print_table(const std::vector<frost::train::EpochSummary>& epochs, const std::string& strategy,
                 double wall_s) {
  std::printf(
      "\n| epoch | strategy | train loss | test accuracy | samples/s | MB/step | epoch time (s) "
      "|\n");
  std::printf(
      "|------:|:---------|-----------:|--------------:|----------:|--------:|---------------:|\n");
  for (const auto& e : epochs) {
    char accuracy[32] = "n/a";
    if (e.eval.samples > 0) std::snprintf(accuracy, sizeof(accuracy), "%.4f", e.eval.accuracy);
    std::printf("| %5lld | %-8s | %10.4f | %13s | %9.0f | %7.4f | %14.1f |\n",
                static_cast<long long>(e.epoch), strategy.c_str(), e.train_loss, accuracy,
                e.samples_per_s, e.comm_mb_per_step, e.wall_s);
  }
  std::printf("total wall time: %.1f s\n", wall_s);
  std::fflush(stdout);
}

// The run, once every rank has accepted the configuration: returns the exit status.
int train(frost::comm::Communicator& comm, const frost::train::Config& cfg) {
  frost::log::init(comm.rank(), comm.world_size(), cfg.log.level);
  frost::set_preemption_rank(comm.rank());
  print_banner(comm, cfg);

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<frost::train::EpochSummary> epochs;
  bool preempted = false;
  {
    frost::train::Trainer trainer(cfg, comm);
    epochs = trainer.run();
    preempted = trainer.preempted();
  }
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (comm.rank() == 0) print_table(epochs, frost::train::to_string(cfg.train.strategy), wall_s);
  // Note [Preemption] in src/frost/train/trainer.cpp: the checkpoint is on disk; every rank
  // exits with the same distinct status, which mpirun passes on.
  return preempted ? frost::kPreemptedExitStatus : 0;
}

}  // namespace

int main(int argc, char** argv) {
  // First, so that a SIGUSR1 or SIGTERM during start-up is a request, not the end of the process
  // (Note [Preemption signals] in src/frost/core/preemption.h).
  frost::install_preemption_handlers("frost-train");
  frost::train::Config cfg;
  frost::apps::MpiProgram program;
  program.name = "frost-train";
  program.parse = [&cfg](int arg_count, char** args,
                         frost::comm::Communicator&) -> std::optional<std::string> {
    frost::train::ParseResult parsed = frost::train::parse_args(arg_count, args);
    if (parsed.help) return parsed.help_text;
    cfg = std::move(parsed.config);
    return std::nullopt;
  };
  program.run = [&cfg](frost::comm::Communicator& comm) { return train(comm, cfg); };
  return frost::apps::run_mpi_program(program, argc, argv);
}
