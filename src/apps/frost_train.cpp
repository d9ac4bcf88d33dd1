// frost-train: data-parallel fine-tuning under mpirun.
//
//   mpirun -np 2 frost-train --config configs/fashion-mnist-b-head.ini [--section.key value ...]
//
// Top-down: MPI + options -> logging + banner -> Trainer (set-up, epochs, save) -> table.
//
// Note [Failing the whole job]
// Any exception on any rank is logged with the rank and ends the whole job through
// MPI_Abort, so that no peer waits forever in a collective (DESIGN invariant 8); mpirun then
// exits non-zero. Peers blocked in a collective when a rank dies without aborting (killed,
// node lost) are released by the collective timeout (dist.timeout_s) and abort in turn.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstdio>
#include <iostream>

#include "frost/comm/communicator.h"
#include "frost/core/blas_threads.h"
#include "frost/core/error.h"
#include "frost/core/log.h"
#include "frost/train/config.h"
#include "frost/train/trainer.h"

namespace {

// Rank -> host table, gathered to every rank and printed by rank 0.
void print_banner(frost::comm::Communicator& comm, const frost::train::Config& cfg) {
  constexpr int64_t kHostBytes = 64;
  auto mine = torch::zeros({kHostBytes}, torch::kByte);
  const std::string host = comm.host().substr(0, kHostBytes - 1);
  std::memcpy(mine.data_ptr(), host.data(), host.size());
  auto all = torch::zeros({comm.world_size() * kHostBytes}, torch::kByte);
  comm.all_gather(mine, all);
  if (comm.rank() != 0) return;
  spdlog::info("frost-train: world size {}, backend {}, LibTorch {}, config {}", comm.world_size(),
               comm.backend(), TORCH_VERSION, cfg.config_file.empty() ? "(none)" : cfg.config_file);
  for (int r = 0; r < comm.world_size(); ++r) {
    const char* h = reinterpret_cast<const char*>(all.data_ptr<uint8_t>() + r * kHostBytes);
    spdlog::info("  rank {} -> host {} -> device cpu", r, h);
  }
}

void print_table(const std::vector<frost::train::EpochSummary>& epochs, const std::string& strategy,
                 double wall_s) {
  std::printf("\n| epoch | strategy | train loss | test accuracy | samples/s | MB/step | epoch time (s) |\n");
  std::printf("|------:|:---------|-----------:|--------------:|----------:|--------:|---------------:|\n");
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

}  // namespace

int main(int argc, char** argv) {
  frost::use_native_blas_kernels("frost-train", argv);  // may re-execute; before MPI starts
  int rank = 0;
  try {
    frost::comm::init_mpi(&argc, &argv);
    auto comm = frost::comm::make_mpi_communicator();
    rank = comm->rank();
    // Options are parsed before any other collective. A bad command line or config file is
    // agreed on by every rank (one all-reduce), so the job ends cleanly with one message
    // instead of an MPI_Abort; a rank that failed alone still takes the others with it.
    frost::train::ParseResult parsed;
    std::string parse_error;
    try {
      parsed = frost::train::parse_args(argc, argv);
    } catch (const frost::Error& e) {
      parse_error = e.what();
    }
    if (frost::comm::agree_on_startup_error(*comm, parse_error, "frost-train") > 0) {
      comm.reset();
      frost::comm::finalize_mpi();
      return 2;
    }
    if (parsed.help) {
      if (rank == 0) std::cout << parsed.help_text << std::flush;
      comm.reset();
      frost::comm::finalize_mpi();
      return 0;
    }
    const auto& cfg = parsed.config;
    frost::log::init(rank, comm->world_size(), cfg.log.level);
    print_banner(*comm, cfg);

    const auto t0 = std::chrono::steady_clock::now();
    std::vector<frost::train::EpochSummary> epochs;
    {
      frost::train::Trainer trainer(cfg, *comm);
      epochs = trainer.run();
    }
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rank == 0) print_table(epochs, frost::train::to_string(cfg.train.strategy), wall_s);
    comm.reset();
    frost::comm::finalize_mpi();
    return 0;
  } catch (const std::exception& e) {
    // One clear line on stderr, then end every rank (Note [Failing the whole job]).
    // LibTorch errors carry a C++ backtrace; the user needs the message only.
    const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
    std::string msg = torch_error ? torch_error->what_without_backtrace() : e.what();
    if (msg.rfind("[rank ", 0) != 0) msg = "[rank " + std::to_string(rank) + "] " + msg;
    std::fprintf(stderr, "frost-train: error: %s\n", msg.c_str());
    std::fflush(stderr);
    frost::comm::abort_job(1);
  }
}
