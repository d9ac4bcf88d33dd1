// frost-bench allreduce: collective benchmarks over frost::comm, in the style of nccl-tests.
//
//   launch/frost-mpirun -np 2 build/frost-bench allreduce [--min-bytes 8] [--max-bytes 64M]
//       [--step-factor 2] [--iters 20] [--warmup 5] [--dtype float32|float64|bfloat16|float16] [--csv FILE]
//       [--check true]
//
// Top-down: the app runner (MPI, options on every rank, --help, the failure path) -> banner ->
// for each message size: fill, warm up, barrier, time, check -> table (rank 0, stdout) -> CSV
// -> exit status (non-zero when any element was wrong).
//
// What is measured is the path the GradReducer takes: Communicator::all_reduce_async(sum) on
// a contiguous CPU tensor, then Work::wait (Note [Timed loop]). Exit status: 0 on success,
// 1 when the check found wrong elements or a collective failed, 2 for a bad command line.
//
// Note [Bandwidths]
// From nccl-tests doc/PERFORMANCE.md (https://github.com/NVIDIA/nccl-tests):
//   algbw = S / t, where S is the message size in bytes and t the time of one operation;
//   busbw = algbw * 2(n-1)/n for all-reduce on n ranks. A ring (or any bandwidth-optimal)
//   all-reduce moves 2(n-1)/n * S bytes in and out of each rank, so busbw is comparable with
//   the link's peak bandwidth whatever n is. With n = 1 nothing moves and busbw is 0.
// GB/s is 10^9 bytes per second, as in nccl-tests.
//
// Note [Timed loop]
// Each iteration issues all_reduce_async and waits for its Work before issuing the next. The
// all-reduce is in place, and the Communicator contract requires the tensor to stay untouched
// until its Work completes, so iterations on one buffer cannot overlap; the time therefore
// includes the hand-off to the progress thread and the caller's wake-up, as the reducer sees
// them. The values in the buffer grow by a factor n per iteration during timing; they are
// never checked. The check runs one more all-reduce per size on freshly filled data (as
// nccl-tests does after timing).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "apps/app_runner.h"
#include "apps/bench.h"
#include "apps/bench_options.h"
#include "frost/comm/communicator.h"
#include "frost/core/error.h"
#include "frost/core/strings.h"
#include "frost/core/fs.h"

namespace frost::bench {

namespace {

// ---------------------------------------------------------------- options

struct Options {
  std::string collective;      // "allreduce"
  std::string min_bytes_text = "8";
  std::string max_bytes_text = "64M";
  int64_t min_bytes = 0;       // parsed from min_bytes_text
  int64_t max_bytes = 0;
  int64_t step_factor = 2;
  int64_t iters = 20;
  int64_t warmup = 5;
  std::string dtype_name = "float32";
  at::ScalarType dtype = at::kFloat;
  std::string csv;
  bool check = true;
  // Test hook (hidden from --help): the last rank adds 1 to this element of every checked
  // result, so tests/e2e can see the check fail the run. -1 = off.
  int64_t test_corrupt_index = -1;
};

constexpr const char* kUsage =
    "usage: frost-bench allreduce [options]\n"
    "\n"
    "All-reduces (sum) a tensor through frost::comm for every message size from --min-bytes to\n"
    "--max-bytes (multiplying by --step-factor) and prints, from rank 0, the time of one\n"
    "operation (max over ranks of the average over --iters), algbw = size / time and\n"
    "busbw = algbw * 2(n-1)/n (nccl-tests doc/PERFORMANCE.md). Run it under mpirun, e.g.\n"
    "  launch/frost-mpirun -np 2 build/frost-bench allreduce --max-bytes 64M --csv out.csv\n"
    "\n"
    "frost-bench loader --data FILE [options] measures the HDF5 data loader instead; see\n"
    "frost-bench loader --help.\n";

/// Message sizes in bytes: min, min*f, min*f^2, ... <= max, each rounded down to a whole
/// number of elements (as nccl-tests does).
std::vector<int64_t> message_sizes(const Options& o) {
  const int64_t elem_bytes = static_cast<int64_t>(c10::elementSize(o.dtype));
  std::vector<int64_t> sizes;
  for (int64_t s = o.min_bytes; s <= o.max_bytes; s *= o.step_factor) {
    sizes.push_back(s / elem_bytes * elem_bytes);
    if (s > o.max_bytes / o.step_factor) break;  // the next size would overflow or exceed max
  }
  return sizes;
}

// ---------------------------------------------------------------- data pattern and check

// Rank r holds (r + 1) * (i % 7 + 1) at element i, so the sum over n ranks is
// (i % 7 + 1) * n(n+1)/2. Every value and partial sum is an integer below 7 * n(n+1)/2, exact
// in float32 while that is <= 2^24 (n <= 2189), so the result must match bit for bit,
// whatever order the reduction adds in.
constexpr int64_t kPatternPeriod = 7;

template <typename T>
void fill_pattern(T* data, int64_t count, int rank) {
  const T scale = static_cast<T>(rank + 1);
  for (int64_t i = 0; i < count; ++i) data[i] = scale * static_cast<T>(i % kPatternPeriod + 1);
}

struct Mismatch {
  int64_t wrong = 0;
  int64_t first_index = -1;
  double first_value = 0.0;
  double first_expected = 0.0;
};

template <typename T>
Mismatch count_wrong(const T* data, int64_t count, int world_size) {
  const T ranks_sum = static_cast<T>(static_cast<int64_t>(world_size) * (world_size + 1) / 2);
  Mismatch m;
  for (int64_t i = 0; i < count; ++i) {
    const T expected = ranks_sum * static_cast<T>(i % kPatternPeriod + 1);
    if (data[i] != expected) {
      if (m.wrong++ == 0) {
        m.first_index = i;
        m.first_value = static_cast<double>(data[i]);
        m.first_expected = static_cast<double>(expected);
      }
    }
  }
  return m;
}

void fill(const at::Tensor& t, int rank) {
  switch (t.scalar_type()) {
    case at::kFloat: return fill_pattern(t.data_ptr<float>(), t.numel(), rank);
    case at::kBFloat16: return fill_pattern(t.data_ptr<c10::BFloat16>(), t.numel(), rank);
    case at::kHalf: return fill_pattern(t.data_ptr<c10::Half>(), t.numel(), rank);
    default: return fill_pattern(t.data_ptr<double>(), t.numel(), rank);
  }
}

Mismatch check(const at::Tensor& t, int world_size) {
  switch (t.scalar_type()) {
    case at::kFloat: return count_wrong(t.data_ptr<float>(), t.numel(), world_size);
    case at::kBFloat16: return count_wrong(t.data_ptr<c10::BFloat16>(), t.numel(), world_size);
    case at::kHalf: return count_wrong(t.data_ptr<c10::Half>(), t.numel(), world_size);
    default: return count_wrong(t.data_ptr<double>(), t.numel(), world_size);
  }
}

// The largest integer up to which every integer is exact in `dtype` (2^(mantissa bits + 1)).
int64_t exact_integer_limit(at::ScalarType dtype) {
  switch (dtype) {
    case at::kBFloat16: return int64_t{1} << 8;
    case at::kHalf: return int64_t{1} << 11;
    case at::kFloat: return int64_t{1} << 24;
    default: return int64_t{1} << 53;
  }
}

/// Parses and validates the command line into `o`; returns the --help text when asked for.
/// Runs on every rank before any collective; the checks that depend on the job (world size,
/// the CSV directory rank 0 writes into) use `comm`'s rank and size only. Throws frost::Error
/// with a message for the user.
std::optional<std::string> parse_args(int argc, const char* const* argv, Options& o,
                                      const comm::Communicator& comm) {
  BenchCommandLine command_line(
      "collective", kUsage, "see --help",
      "more than one collective given: usage: frost-bench allreduce [options]");
  namespace po = boost::program_options;
  command_line.options().add_options()
      ("min-bytes", po::value<std::string>(&o.min_bytes_text)->default_value(o.min_bytes_text),
       "smallest message in bytes (suffix K, M or G: binary multiples)")
      ("max-bytes", po::value<std::string>(&o.max_bytes_text)->default_value(o.max_bytes_text),
       "largest message in bytes (suffix K, M or G); at most 2^31-1 elements")
      ("step-factor", po::value<int64_t>(&o.step_factor)->default_value(o.step_factor),
       "multiply the message size by this from one size to the next (>= 2)")
      ("iters", po::value<int64_t>(&o.iters)->default_value(o.iters),
       "timed all-reduces per size (>= 1)")
      ("warmup", po::value<int64_t>(&o.warmup)->default_value(o.warmup),
       "untimed all-reduces per size before the timed ones (>= 0)")
      ("dtype", po::value<std::string>(&o.dtype_name)->default_value(o.dtype_name),
       "element type: float32 | float64 | bfloat16 | float16 (16-bit floats: two bytes per "
       "element; MPI sums them with a user-defined reduction)")
      ("csv", po::value<std::string>(&o.csv),
       "also write the table to this CSV file (rank 0; written atomically)")
      ("check", po::value<bool>(&o.check)->default_value(o.check, "true"),
       "check every element of one more all-reduce per size against the closed-form sum; "
       "exit 1 if any is wrong (true | false)");
  command_line.hidden().add_options()("test-corrupt-index",
                                      po::value<int64_t>(&o.test_corrupt_index));
  if (auto help = command_line.parse(argc, argv, o.collective)) return help;

  FROST_CHECK(!o.collective.empty(),
              "no collective given: usage: frost-bench allreduce [options]; see --help");
  FROST_CHECK(o.collective == "allreduce", "unknown collective '", o.collective,
              "': frost-bench runs allreduce (or loader, as the first argument); see --help");
  if (o.dtype_name == "float32") {
    o.dtype = at::kFloat;
  } else if (o.dtype_name == "float64") {
    o.dtype = at::kDouble;
  } else if (o.dtype_name == "bfloat16") {
    o.dtype = at::kBFloat16;
  } else if (o.dtype_name == "float16") {
    o.dtype = at::kHalf;
  } else {
    throw Error("--dtype '" + printable(o.dtype_name, 40) +
                "' is not supported: use float32, float64, bfloat16 or float16");
  }
  const int64_t elem_bytes = static_cast<int64_t>(c10::elementSize(o.dtype));
  o.min_bytes = parse_bytes(o.min_bytes_text, "min-bytes");
  o.max_bytes = parse_bytes(o.max_bytes_text, "max-bytes");
  FROST_CHECK(o.min_bytes >= elem_bytes, "--min-bytes ", o.min_bytes,
              " is smaller than one ", o.dtype_name, " element (", elem_bytes, " B)");
  FROST_CHECK(o.max_bytes >= o.min_bytes, "--max-bytes ", o.max_bytes,
              " is smaller than --min-bytes ", o.min_bytes);
  // The MPI backend passes element counts to MPI as int (docs/design.md).
  FROST_CHECK(o.max_bytes / elem_bytes <= INT_MAX, "--max-bytes ", o.max_bytes, " is ",
              o.max_bytes / elem_bytes, " ", o.dtype_name,
              " elements; the MPI backend takes at most 2^31-1 elements per collective");
  FROST_CHECK(o.step_factor >= 2, "--step-factor must be >= 2, got ", o.step_factor);
  FROST_CHECK(o.iters >= 1, "--iters must be >= 1, got ", o.iters);
  FROST_CHECK(o.warmup >= 0, "--warmup must be >= 0, got ", o.warmup);
  const int world_size = comm.world_size();
  if (o.check) {
    const int64_t limit = exact_integer_limit(o.dtype);
    FROST_CHECK(kPatternPeriod * world_size * (world_size + 1) / 2 <= limit, "world size ",
                world_size, " is too large for an exact ", o.dtype_name, " check (sums above ",
                limit, "); use --dtype float64 or --check false");
  }
  // Rank 0 writes the CSV: find a missing directory now, not after the whole run.
  if (comm.rank() == 0 && !o.csv.empty()) check_csv_directory(o.csv);
  return std::nullopt;
}

// ---------------------------------------------------------------- banner

// "host-a (ranks 0-1), host-b (ranks 2-3)": host names gathered from every rank.
std::string hosts_line(comm::Communicator& comm) {
  const std::vector<std::string> all = comm.all_hosts();
  std::vector<std::pair<std::string, std::vector<int>>> hosts;  // in order of first rank
  for (int r = 0; r < comm.world_size(); ++r) {
    const std::string& h = all[static_cast<size_t>(r)];
    auto it = std::find_if(hosts.begin(), hosts.end(), [&](const auto& p) { return p.first == h; });
    if (it == hosts.end()) {
      hosts.push_back({h, {r}});
    } else {
      it->second.push_back(r);
    }
  }
  std::string line;
  for (const auto& [h, ranks] : hosts) {
    const bool contiguous = ranks.back() - ranks.front() + 1 == static_cast<int>(ranks.size());
    std::string list;
    if (ranks.size() == 1) {
      list = "rank " + std::to_string(ranks[0]);
    } else if (contiguous) {
      list = "ranks " + std::to_string(ranks.front()) + "-" + std::to_string(ranks.back());
    } else {
      list = "ranks";
      for (size_t i = 0; i < ranks.size(); ++i) list += (i ? "," : " ") + std::to_string(ranks[i]);
    }
    line += (line.empty() ? "" : ", ") + h + " (" + list + ")";
  }
  return line;
}

// ---------------------------------------------------------------- benchmark

struct Row {
  int64_t size_bytes = 0;
  int64_t count = 0;
  double time_us = 0.0;   // max over ranks of the per-rank average of one all-reduce
  double algbw_gbps = 0.0;
  double busbw_gbps = 0.0;
  int64_t wrong = -1;     // over all ranks; -1 when not checked
};

/// One message size: warm up, barrier, time `iters` all-reduces (Note [Timed loop]), reduce
/// the time with max over ranks, then (with --check) one all-reduce of fresh data whose every
/// element is checked. Collective: every rank calls it with the same arguments.
Row bench_size(comm::Communicator& comm, const Options& o, const at::Tensor& buffer,
               int64_t size_bytes) {
  using frost::comm::ReduceOp;
  Row row;
  row.size_bytes = size_bytes;
  row.count = size_bytes / static_cast<int64_t>(buffer.element_size());
  const at::Tensor t = buffer.narrow(0, 0, row.count);  // contiguous prefix of the buffer
  fill(t, comm.rank());

  for (int64_t i = 0; i < o.warmup; ++i) comm.all_reduce_async(t, ReduceOp::kSum)->wait();
  comm.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < o.iters; ++i) comm.all_reduce_async(t, ReduceOp::kSum)->wait();
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // The slowest rank defines the time of a collective.
  auto time_s = torch::tensor({elapsed_s / static_cast<double>(o.iters)}, torch::kDouble);
  comm.all_reduce_async(time_s, ReduceOp::kMax)->wait();
  row.time_us = time_s.item<double>() * 1e6;

  // Note [Bandwidths]
  const int n = comm.world_size();
  row.algbw_gbps = static_cast<double>(size_bytes) / (row.time_us * 1e-6) / 1e9;
  row.busbw_gbps = row.algbw_gbps * 2.0 * (n - 1) / n;

  if (o.check) {
    fill(t, comm.rank());
    comm.all_reduce_async(t, ReduceOp::kSum)->wait();
    if (o.test_corrupt_index >= 0 && o.test_corrupt_index < row.count && comm.rank() == n - 1) {
      t.narrow(0, o.test_corrupt_index, 1).add_(1);
    }
    const Mismatch m = check(t, n);
    if (m.wrong > 0) {
      std::fprintf(stderr,
                   "frost-bench: [rank %d] all_reduce of %" PRId64 " B: %" PRId64
                   " wrong elements; first: element %" PRId64 " = %.17g, expected %.17g\n",
                   comm.rank(), size_bytes, m.wrong, m.first_index, m.first_value,
                   m.first_expected);
    }
    auto wrong = torch::tensor({m.wrong}, torch::kLong);
    comm.all_reduce_async(wrong, ReduceOp::kSum)->wait();
    row.wrong = wrong.item<int64_t>();
  }
  return row;
}

// ---------------------------------------------------------------- output

constexpr const char* kColumns[] = {"size (B)",  "count (elements)", "type",   "redop",
                                    "time (us)", "algbw (GB/s)",     "busbw (GB/s)", "#wrong"};

void print_header() {
  std::printf("#%11s  %16s  %7s  %5s  %11s  %12s  %12s  %7s\n", kColumns[0], kColumns[1],
              kColumns[2], kColumns[3], kColumns[4], kColumns[5], kColumns[6], kColumns[7]);
  std::fflush(stdout);
}

void print_row(const Row& r, const std::string& type) {
  const std::string wrong = r.wrong < 0 ? "N/A" : std::to_string(r.wrong);
  std::printf("%12" PRId64 "  %16" PRId64 "  %7s  %5s  %11.2f  %12.3f  %12.3f  %7s\n",
              r.size_bytes, r.count, type.c_str(), "sum", r.time_us, r.algbw_gbps, r.busbw_gbps,
              wrong.c_str());
  std::fflush(stdout);
}

std::string csv_text(const std::vector<Row>& rows, const std::string& type) {
  std::string out;
  for (size_t i = 0; i < std::size(kColumns); ++i) out += (i ? "," : "") + std::string(kColumns[i]);
  out += "\n";
  char line[256];
  for (const Row& r : rows) {
    const std::string wrong = r.wrong < 0 ? "N/A" : std::to_string(r.wrong);
    std::snprintf(line, sizeof line, "%" PRId64 ",%" PRId64 ",%s,sum,%.3f,%.6f,%.6f,%s\n",
                  r.size_bytes, r.count, type.c_str(), r.time_us, r.algbw_gbps, r.busbw_gbps,
                  wrong.c_str());
    out += line;
  }
  return out;
}

/// The benchmark, once every rank has accepted the command line. Returns the exit status.
int run(comm::Communicator& comm, const Options& o) {
  const int rank = comm.rank(), world_size = comm.world_size();
  const std::vector<int64_t> sizes = message_sizes(o);

  // Banner (rank 0): world, backend, hosts, then the run's parameters.
  const std::string hosts = hosts_line(comm);
  if (rank == 0) {
    std::printf("# frost-bench allreduce: world size %d, backend %s, hosts %s\n", world_size,
                comm.backend().c_str(), hosts.c_str());
    std::printf("# dtype %s, sizes %s .. %s (x%" PRId64 ", %zu sizes), warmup %" PRId64
                ", iters %" PRId64 ", check %s; time = max over ranks of the mean of one "
                "all_reduce_async + wait\n#\n",
                o.dtype_name.c_str(), format_bytes(sizes.front()).c_str(),
                format_bytes(sizes.back()).c_str(), o.step_factor, sizes.size(), o.warmup,
                o.iters, o.check ? "true" : "false");
    print_header();
  }

  // One buffer of the largest size; every size uses a prefix of it, so pages are faulted
  // in once and no allocation happens between sizes.
  const at::Tensor buffer =
      torch::empty({sizes.back() / static_cast<int64_t>(c10::elementSize(o.dtype))},
                   torch::TensorOptions().dtype(o.dtype));
  std::vector<Row> rows;
  for (const int64_t size_bytes : sizes) {
    rows.push_back(bench_size(comm, o, buffer, size_bytes));
    if (rank == 0) print_row(rows.back(), o.dtype_name);
  }

  int64_t wrong_total = 0, wrong_sizes = 0;
  double busbw_sum = 0.0;
  for (const Row& r : rows) {
    busbw_sum += r.busbw_gbps;
    if (r.wrong > 0) {
      wrong_total += r.wrong;
      ++wrong_sizes;
    }
  }
  if (rank == 0) {
    std::printf("# Wrong elements: %s\n",
                !o.check ? "not checked (--check false)"
                : wrong_total == 0 ? "0 OK"
                                   : (std::to_string(wrong_total) + " FAILED").c_str());
    std::printf("# Avg bus bandwidth: %.3f GB/s (mean over %zu sizes)\n",
                busbw_sum / static_cast<double>(rows.size()), rows.size());
    std::fflush(stdout);
    if (!o.csv.empty()) fs::write_file_atomic(o.csv, csv_text(rows, o.dtype_name));
  }
  comm.barrier();  // no rank reports success before the CSV is on disk
  if (wrong_total == 0) return 0;
  // Every rank knows the total; the job ends without an abort, so rank 0 says it once.
  if (rank == 0) {
    apps::print_error_line(
        "frost-bench", Error(detail::str_cat("the all-reduce returned ", wrong_total,
                                             " wrong elements in ", wrong_sizes, " of ",
                                             rows.size(), " sizes (details above, per rank)")));
  }
  return 1;
}

}  // namespace

int allreduce_main(int argc, char** argv) {
  Options options;
  apps::MpiProgram program;
  program.name = "frost-bench";
  program.parse = [&options](int arg_count, char** args, comm::Communicator& comm) {
    return parse_args(arg_count, args, options, comm);
  };
  program.run = [&options](comm::Communicator& comm) { return run(comm, options); };
  return apps::run_mpi_program(program, argc, argv);
}

}  // namespace frost::bench
