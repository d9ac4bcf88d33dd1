// frost-bench: benchmarks of the two paths a training step depends on besides compute.
//
//   launch/frost-mpirun -np 2 build/frost-bench allreduce [--min-bytes 8] [--max-bytes 64M]
//       [--step-factor 2] [--iters 20] [--warmup 5] [--dtype float32|float64] [--csv FILE]
//       [--check true]
//   build/frost-bench loader --data FILE [--data FILE ...] [--batch-size 64] [--prefetch 2]
//       [--ranks 1] [--rank R] [--epochs 1] [--steps 0] [--repeats 3] [--seed 0] [--csv FILE]
//       [--chunk-cache-mb 512] [--direct-reads true]
//
// allreduce: collective benchmarks over frost::comm, in the style of nccl-tests.
// Top-down: MPI + options -> banner -> for each message size: fill, warm up, barrier, time,
// check -> table (rank 0, stdout) -> CSV -> exit status (non-zero when any element was wrong).
//
// What is measured is the path the GradReducer takes: Communicator::all_reduce_async(sum) on
// a contiguous CPU tensor, then Work::wait (Note [Timed loop]). Exit status: 0 on success,
// 1 when the check found wrong elements or a collective failed, 2 for a bad command line.
//
// loader: samples/s the HDF5 data path delivers to a training step, against a sequential read
// of the same file in the same run (Note [Loader benchmark]). One process, no MPI: the ranks of
// a job are simulated one after another. Exit status: 0, 1 on a failed read, 2 for a bad
// command line.
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
//
// Note [Loader benchmark]
// For each --data file, every repeat runs three timed reads, in this order, each of them
// --epochs passes over the data:
//   sequential, raw      the whole /inputs (and /attention_mask) and /labels read in file
//                        order with plain HDF5 calls, one H5Dread per chunk-sized block of
//                        rows (1024 rows when not chunked) into one reused buffer, nothing
//                        converted: what the file and HDF5 deliver at best.
//   sequential, tensors  BatchLoader over the whole file in order in batches of --batch-size
//                        (EvalSampler with one rank), batch tensors as a step gets them
//                        (images normalised to float32, tokens as int64 cut to their longest
//                        row): a sequential read that delivers what the loader delivers.
//   loader, shuffled     BatchLoader over the shuffled TrainSampler batches of each simulated
//                        rank of --ranks (seed --seed, epochs 0..--epochs-1): the loader as a
//                        training job uses it.
// "vs raw" and "vs tensors" are each row's samples/s over the first and the second row's.
// Each BatchLoader phase opens the dataset afresh for every simulated rank (each rank of a job
// is its own process, so HDF5's chunk cache starts empty; no other handle of the file is open
// then, as HDF5 shares one chunk cache between all handles of a dataset in a process, and the
// sequential read opens its own) and times from the BatchLoader's
// construction to its last batch; opening is not timed. The consumer only takes the batches,
// so what is measured is the rate of the loader's thread. samples/s of the shuffled phase =
// samples over all simulated ranks / the sum of their times: the rate one rank's loader
// sustains. --steps N stops each BatchLoader phase after N batches (per simulated rank and
// epoch), for files too slow to read whole. Before the first repeat one untimed sequential
// read warms the page cache. Reported: the median over --repeats of each phase's time and the
// relative spread, (max - min) / median; and the median CPU time (user + system, all threads of
// the process) of the phase, which other processes on a busy machine do not inflate: a wall
// time well above it means the phase waited for a core (or for the disk).

#include <boost/program_options.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <hdf5.h>
#include <sys/resource.h>

#include "frost/comm/communicator.h"
#include "frost/core/cli.h"
#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/data/h5_dataset.h"
#include "frost/train/loader.h"
#include "frost/data/sampler.h"

namespace po = boost::program_options;

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

struct ParseResult {
  Options options;
  bool help = false;
  std::string help_text;
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

/// Parses a byte count "N" or "N" followed by K, M or G (binary: K = 2^10, M = 2^20,
/// G = 2^30; an optional trailing "B" or "iB" is accepted). Throws frost::Error naming `option`.
int64_t parse_bytes(const std::string& text, const char* option) {
  const auto bad = [&](const std::string& why) {
    return frost::Error(frost::detail::str_cat("--", option, " '", text, "' ", why,
                                               ": expected a byte count such as 8, 1K, 64M or 1G "
                                               "(binary: K = 1024)"));
  };
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) throw bad(digits == 0 ? "is not a number" : "is too large");
  int64_t value = std::stoll(text.substr(0, digits));
  std::string suffix = text.substr(digits);
  for (char& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  int shift = 0;
  if (!suffix.empty() && (suffix[0] == 'K' || suffix[0] == 'M' || suffix[0] == 'G')) {
    shift = suffix[0] == 'K' ? 10 : suffix[0] == 'M' ? 20 : 30;
    suffix.erase(0, 1);
    if (suffix == "IB") suffix = "B";
  }
  if (!(suffix.empty() || suffix == "B")) throw bad("has an unknown unit");
  if (value > (INT64_MAX >> shift)) throw bad("is too large");
  return value << shift;
}

std::string format_bytes(int64_t b) {
  if (b >= (1LL << 30) && b % (1LL << 30) == 0) return std::to_string(b >> 30) + " GiB";
  if (b >= (1LL << 20) && b % (1LL << 20) == 0) return std::to_string(b >> 20) + " MiB";
  if (b >= (1LL << 10) && b % (1LL << 10) == 0) return std::to_string(b >> 10) + " KiB";
  return std::to_string(b) + " B";
}

/// Parses and validates the command line. Throws frost::Error with a message for the user.
/// The --help text is generated from the same description that parses (STYLE.md, Build).
ParseResult parse_args(int argc, const char* const* argv) {
  ParseResult result;
  Options& o = result.options;
  po::options_description desc("Options");
  desc.add_options()
      ("help,h", "print this help and exit")
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
       "element type: float32 | float64")
      ("csv", po::value<std::string>(&o.csv),
       "also write the table to this CSV file (rank 0; written atomically)")
      ("check", po::value<bool>(&o.check)->default_value(o.check, "true"),
       "check every element of one more all-reduce per size against the closed-form sum; "
       "exit 1 if any is wrong (true | false)");
  po::options_description hidden;
  hidden.add_options()("collective", po::value<std::string>(&o.collective))(
      "test-corrupt-index", po::value<int64_t>(&o.test_corrupt_index));
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description positional;
  positional.add("collective", 1);

  po::variables_map vm;
  try {
    // No guessing: "--iter" must be an error, not silently "--iters".
    po::store(frost::cli::parse_strict(argc, argv, all, positional), vm);
    po::notify(vm);
  } catch (const po::too_many_positional_options_error&) {
    throw frost::Error("more than one collective given: usage: frost-bench allreduce [options]; see --help");
  } catch (po::error& e) {
    throw frost::Error(frost::cli::error_text(e) + "; see --help");
  }
  if (vm.count("help")) {
    result.help = true;
    std::ostringstream os;
    os << kUsage << "\n" << desc;
    result.help_text = os.str();
    return result;
  }

  FROST_CHECK(!o.collective.empty(),
              "no collective given: usage: frost-bench allreduce [options]; see --help");
  FROST_CHECK(o.collective == "allreduce", "unknown collective '", o.collective,
              "': frost-bench runs allreduce (or loader, as the first argument); see --help");
  if (o.dtype_name == "float32") {
    o.dtype = at::kFloat;
  } else if (o.dtype_name == "float64") {
    o.dtype = at::kDouble;
  } else {
    throw frost::Error("--dtype '" + o.dtype_name + "' is not supported: use float32 or float64");
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
  return result;
}

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
  if (t.scalar_type() == at::kFloat) {
    fill_pattern(t.data_ptr<float>(), t.numel(), rank);
  } else {
    fill_pattern(t.data_ptr<double>(), t.numel(), rank);
  }
}

Mismatch check(const at::Tensor& t, int world_size) {
  return t.scalar_type() == at::kFloat ? count_wrong(t.data_ptr<float>(), t.numel(), world_size)
                                       : count_wrong(t.data_ptr<double>(), t.numel(), world_size);
}

// ---------------------------------------------------------------- banner

// "host-a (ranks 0-1), host-b (ranks 2-3)": host names gathered from every rank.
std::string hosts_line(frost::comm::Communicator& comm) {
  constexpr int64_t kHostBytes = 64;
  auto mine = torch::zeros({kHostBytes}, torch::kByte);
  const std::string host = comm.host().substr(0, kHostBytes - 1);
  std::memcpy(mine.data_ptr(), host.data(), host.size());
  auto all = torch::zeros({comm.world_size() * kHostBytes}, torch::kByte);
  comm.all_gather(mine, all);
  std::vector<std::pair<std::string, std::vector<int>>> hosts;  // in order of first rank
  for (int r = 0; r < comm.world_size(); ++r) {
    const std::string h(reinterpret_cast<const char*>(all.data_ptr<uint8_t>() + r * kHostBytes));
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
Row bench_size(frost::comm::Communicator& comm, const Options& o, const at::Tensor& buffer,
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

// ================================================================ loader benchmark

namespace loader_bench {

struct LoaderOptions {
  std::vector<std::string> data;  // one table per file (or glob of shards)
  int64_t batch_size = 64;
  int64_t prefetch = 2;
  int64_t ranks = 1;              // simulated world size
  int64_t rank = -1;              // -1: every rank, one after another
  int64_t epochs = 1;
  int64_t steps = 0;              // batches per simulated rank and epoch; 0 = all
  int64_t repeats = 3;
  uint64_t seed = 0;
  std::string csv;
  frost::data::OpenOptions open;  // how H5Dataset reads (chunk cache, direct reads)
};

struct LoaderParse {
  LoaderOptions options;
  bool help = false;
  std::string help_text;
};

constexpr const char* kLoaderUsage =
    "usage: frost-bench loader --data FILE [--data FILE ...] [options]\n"
    "\n"
    "Measures, for each file, the samples/s of a sequential read of the whole file with plain\n"
    "HDF5 calls (raw) and with Frost's BatchLoader (tensors as a training step gets them), then\n"
    "of the BatchLoader over the training sampler's shuffled batches of --ranks simulated\n"
    "ranks, and the ratios to both sequential reads. No MPI: run it as a plain process, e.g.\n"
    "  build/frost-bench loader --data data/train.h5 --ranks 2 --csv loader.csv\n";

/// Parses `frost-bench loader ...` (argv[1] is "loader"). Throws frost::Error for the user.
LoaderParse parse_loader_args(int argc, const char* const* argv) {
  LoaderParse result;
  LoaderOptions& o = result.options;
  std::string rank_text = "all";
  int64_t chunk_cache_mb = o.open.chunk_cache_bytes >> 20;
  po::options_description desc("Options");
  desc.add_options()
      ("help,h", "print this help and exit")
      ("data", po::value<std::vector<std::string>>(&o.data),
       "dataset file or glob of shard files (Frost schema); repeat for several tables")
      ("batch-size", po::value<int64_t>(&o.batch_size)->default_value(o.batch_size),
       "per-rank batch size B (>= 1)")
      ("prefetch", po::value<int64_t>(&o.prefetch)->default_value(o.prefetch),
       "BatchLoader prefetch_batches (>= 1)")
      ("ranks", po::value<int64_t>(&o.ranks)->default_value(o.ranks),
       "simulated world size W: each rank reads its shard of every global batch (>= 1)")
      ("rank", po::value<std::string>(&rank_text)->default_value(rank_text),
       "simulated rank to time, or 'all' for every rank one after another")
      ("epochs", po::value<int64_t>(&o.epochs)->default_value(o.epochs),
       "passes over the data in every phase (>= 1); a loader's later epochs find decoded "
       "chunks kept")
      ("steps", po::value<int64_t>(&o.steps)->default_value(o.steps),
       "stop each loader phase after this many batches per rank and epoch (0 = all)")
      ("repeats", po::value<int64_t>(&o.repeats)->default_value(o.repeats),
       "times every phase is run; the tables report medians (>= 1)")
      ("seed", po::value<uint64_t>(&o.seed)->default_value(o.seed), "shuffle seed")
      ("csv", po::value<std::string>(&o.csv), "also write the tables to this CSV file (atomically)")
      ("chunk-cache-mb", po::value<int64_t>(&chunk_cache_mb)->default_value(chunk_cache_mb),
       "MiB of decoded chunks HDF5 may cache for filtered (compressed) data, all shards together "
       "(H5Dataset OpenOptions::chunk_cache_bytes; >= 0)")
      ("direct-reads", po::value<bool>(&o.open.direct_reads)->default_value(true, "true"),
       "read unfiltered rows from a mapping of the file instead of with H5Dread (true | false)");
  po::options_description hidden;
  std::string command;
  hidden.add_options()("command", po::value<std::string>(&command));
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description positional;
  positional.add("command", 1);
  po::variables_map vm;
  try {
    po::store(frost::cli::parse_strict(argc, argv, all, positional), vm);
    po::notify(vm);
  } catch (const po::too_many_positional_options_error&) {
    throw frost::Error("unexpected positional argument: usage: frost-bench loader --data FILE "
                       "[options]; see frost-bench loader --help");
  } catch (po::error& e) {
    throw frost::Error(frost::cli::error_text(e) + "; see frost-bench loader --help");
  }
  if (vm.count("help")) {
    result.help = true;
    std::ostringstream os;
    os << kLoaderUsage << "\n" << desc;
    result.help_text = os.str();
    return result;
  }
  FROST_CHECK(!o.data.empty(), "no --data file given: usage: frost-bench loader --data FILE "
                               "[options]; see frost-bench loader --help");
  FROST_CHECK(o.batch_size >= 1, "--batch-size must be >= 1, got ", o.batch_size);
  FROST_CHECK(o.prefetch >= 1 && o.prefetch <= INT_MAX, "--prefetch must be >= 1, got ",
              o.prefetch);
  FROST_CHECK(o.ranks >= 1 && o.ranks <= INT_MAX, "--ranks must be >= 1, got ", o.ranks);
  FROST_CHECK(o.epochs >= 1, "--epochs must be >= 1, got ", o.epochs);
  FROST_CHECK(o.repeats >= 1, "--repeats must be >= 1, got ", o.repeats);
  FROST_CHECK(o.steps >= 0, "--steps must be >= 0 (0 = all), got ", o.steps);
  FROST_CHECK(chunk_cache_mb >= 0 && chunk_cache_mb <= (int64_t{1} << 40),
              "--chunk-cache-mb must be >= 0, got ", chunk_cache_mb);
  o.open.chunk_cache_bytes = chunk_cache_mb << 20;
  if (rank_text != "all") {
    size_t used = 0;
    try {
      o.rank = std::stoll(rank_text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    FROST_CHECK(used == rank_text.size() && used > 0, "--rank '", rank_text,
                "' is not a rank: give a number in [0, --ranks) or 'all'");
    FROST_CHECK(o.rank >= 0 && o.rank < o.ranks, "--rank ", o.rank, " is outside [0, ",
                o.ranks, ") (--ranks ", o.ranks, ")");
  }
  if (!o.csv.empty()) {
    const auto slash = o.csv.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "."
                            : slash == 0                ? "/"
                                                        : o.csv.substr(0, slash);
    FROST_CHECK(frost::fs::exists(dir), "--csv '", o.csv, "': directory '", dir,
                "' does not exist");
  }
  return result;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// User + system CPU seconds of this process so far (all threads).
double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

struct Timed {
  int64_t samples = 0;
  int64_t bytes = 0;  // decoded /inputs (+ /attention_mask) bytes delivered
  double seconds = 0.0;
  double cpu_seconds = 0.0;  // CPU time of the process meanwhile (Note [Loader benchmark])
};

// ---- sequential read with plain HDF5 calls (Note [Loader benchmark])

// Reads every row of `object` in file order: one H5Dread of `block_rows` rows at a time into
// `buffer` (reused). Returns the bytes read. Caller holds the HDF5 lock.
int64_t read_object_in_order(hid_t file, const char* object, hid_t mem_type,
                             const std::string& path, std::vector<uint8_t>& buffer) {
  const hid_t dset = H5Dopen2(file, object, H5P_DEFAULT);
  FROST_CHECK(dset >= 0, path, ": cannot open ", object);
  const hid_t fspace = H5Dget_space(dset);
  const int rank = H5Sget_simple_extent_ndims(fspace);
  std::vector<hsize_t> dims(static_cast<size_t>(rank)), chunk(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(fspace, dims.data(), nullptr);
  const hid_t dcpl = H5Dget_create_plist(dset);
  hsize_t block_rows = 1024;
  if (H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, rank, chunk.data()) == rank)
    block_rows = chunk[0];
  H5Pclose(dcpl);
  size_t row_bytes = H5Tget_size(mem_type);
  for (int i = 1; i < rank; ++i) row_bytes *= static_cast<size_t>(dims[static_cast<size_t>(i)]);
  buffer.resize(std::max<size_t>(buffer.size(), block_rows * row_bytes));
  std::vector<hsize_t> start(static_cast<size_t>(rank), 0), count = dims;
  herr_t rc = 0;
  for (hsize_t row = 0; row < dims[0] && rc >= 0; row += block_rows) {
    start[0] = row;
    count[0] = std::min(block_rows, dims[0] - row);
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
    const hid_t mspace = H5Screate_simple(rank, count.data(), nullptr);
    rc = H5Dread(dset, mem_type, mspace, fspace, H5P_DEFAULT, buffer.data());
    H5Sclose(mspace);
  }
  H5Sclose(fspace);
  H5Dclose(dset);
  FROST_CHECK(rc >= 0, path, ": reading ", object, " in order failed");
  return static_cast<int64_t>(dims[0] * row_bytes);
}

Timed read_sequential(const std::vector<std::string>& paths,
                      const frost::data::DatasetInfo& info, int64_t passes) {
  const hid_t input_type = info.input_kind == frost::data::InputKind::kImage ? H5T_NATIVE_UINT8
                           : info.input_kind == frost::data::InputKind::kTokens
                               ? H5T_NATIVE_INT32
                               : H5T_NATIVE_FLOAT;
  std::vector<uint8_t> buffer;
  Timed t;
  std::lock_guard<std::mutex> lock(frost::data::hdf5_mutex());
  const double cpu0 = process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t pass = 0; pass < passes; ++pass) {
    for (const std::string& path : paths) {
      const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
      FROST_CHECK(file >= 0, path, ": cannot open the file");
      try {
        t.bytes += read_object_in_order(file, "inputs", input_type, path, buffer);
        if (info.has_attention_mask)
          t.bytes += read_object_in_order(file, "attention_mask", H5T_NATIVE_UINT8, path, buffer);
        read_object_in_order(file, "labels", H5T_NATIVE_INT64, path, buffer);
      } catch (...) {
        H5Fclose(file);
        throw;
      }
      H5Fclose(file);
    }
  }
  t.seconds = seconds_since(t0);
  t.cpu_seconds = process_cpu_seconds() - cpu0;
  t.samples = info.num_samples * passes;
  return t;
}

// ---- BatchLoader phases

// Times a BatchLoader over `batches` of a freshly opened dataset (opening is not timed).
Timed time_loader(const std::vector<std::string>& paths,
                  std::vector<std::vector<int64_t>> batches, const LoaderOptions& o) {
  const frost::data::H5Dataset ds = frost::data::H5Dataset::open(paths, o.open);
  Timed t;
  const double cpu0 = process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  frost::train::BatchLoader loader(ds, std::move(batches), static_cast<int>(o.prefetch));
  frost::train::Batch batch;
  while (loader.next(batch)) {
    t.samples += batch.inputs.size(0);
    t.bytes += static_cast<int64_t>(batch.inputs.nbytes());
    if (batch.attention_mask.defined())
      t.bytes += static_cast<int64_t>(batch.attention_mask.nbytes());
  }
  t.seconds = seconds_since(t0);
  t.cpu_seconds = process_cpu_seconds() - cpu0;
  return t;
}

// The first `steps` batches (all when steps is 0).
void keep_steps(std::vector<std::vector<int64_t>>& batches, int64_t steps) {
  if (steps > 0 && static_cast<int64_t>(batches.size()) > steps)
    batches.resize(static_cast<size_t>(steps));
}

// The whole file in order, batches of o.batch_size, one reader.
Timed read_sequential_tensors(const std::vector<std::string>& paths, int64_t num_samples,
                              const LoaderOptions& o) {
  std::vector<std::vector<int64_t>> epoch =
      frost::data::EvalSampler(num_samples, 1, 0, o.batch_size).batches();
  keep_steps(epoch, o.steps);
  std::vector<std::vector<int64_t>> batches;
  for (int64_t e = 0; e < o.epochs; ++e) batches.insert(batches.end(), epoch.begin(), epoch.end());
  return time_loader(paths, std::move(batches), o);
}

// Every simulated rank in turn (or only o.rank): its shuffled batches of o.epochs epochs.
Timed read_shuffled(const std::vector<std::string>& paths, int64_t num_samples,
                    const LoaderOptions& o) {
  Timed total;
  const int world = static_cast<int>(o.ranks);
  for (int r = 0; r < world; ++r) {
    if (o.rank >= 0 && r != o.rank) continue;
    const frost::data::TrainSampler sampler(num_samples, world, r, o.batch_size, o.seed,
                                            /*shuffle=*/true, /*drop_last=*/false);
    std::vector<std::vector<int64_t>> batches;
    for (int64_t e = 0; e < o.epochs; ++e) {
      std::vector<std::vector<int64_t>> epoch = sampler.epoch_batches(e);
      keep_steps(epoch, o.steps);
      batches.insert(batches.end(), std::make_move_iterator(epoch.begin()),
                     std::make_move_iterator(epoch.end()));
    }
    const Timed t = time_loader(paths, std::move(batches), o);
    total.samples += t.samples;
    total.bytes += t.bytes;
    total.seconds += t.seconds;
    total.cpu_seconds += t.cpu_seconds;
  }
  return total;
}

// ---- report

struct LoaderRow {
  std::string file;
  std::string read;   // "sequential, raw", "sequential, tensors", "loader, shuffled"
  std::string ranks;  // "-" for sequential
  int64_t samples = 0;       // per repeat
  double seconds = 0.0;      // median over repeats
  double spread = 0.0;       // (max - min) / median
  double cpu_seconds = 0.0;  // median over repeats
  double samples_per_s = 0.0;
  double mb_per_s = 0.0;     // 10^6 B/s of decoded inputs delivered
  double vs_raw = 0.0;      // samples/s over the "sequential, raw" row's
  double vs_tensors = 0.0;  // samples/s over the "sequential, tensors" row's
};

LoaderRow summarise(const std::string& file, const std::string& read, const std::string& ranks,
                    std::vector<Timed> runs) {
  std::sort(runs.begin(), runs.end(), [](const Timed& a, const Timed& b) { return a.seconds < b.seconds; });
  LoaderRow row;
  row.file = file;
  row.read = read;
  row.ranks = ranks;
  const Timed& mid = runs[runs.size() / 2];  // the median (upper one for an even count)
  row.samples = mid.samples;
  row.seconds = mid.seconds;
  std::vector<double> cpu;
  for (const Timed& t : runs) cpu.push_back(t.cpu_seconds);
  std::sort(cpu.begin(), cpu.end());
  row.cpu_seconds = cpu[cpu.size() / 2];
  row.spread = mid.seconds > 0 ? (runs.back().seconds - runs.front().seconds) / mid.seconds : 0.0;
  row.samples_per_s = mid.seconds > 0 ? static_cast<double>(mid.samples) / mid.seconds : 0.0;
  row.mb_per_s = mid.seconds > 0 ? static_cast<double>(mid.bytes) / mid.seconds / 1e6 : 0.0;
  return row;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string mb_text(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

// "#   /inputs: chunked, 1024 rows (802816 B) per chunk, 59 chunks, no filter, 47.9 MB in the
// file; chunk cache 0 B, 10007 slots, w0 0.75": the objects of the first shard.
void print_storage(const frost::data::H5Dataset& ds) {
  const std::vector<frost::data::ObjectStorage> all = ds.storage();
  const size_t shards = ds.paths().size();
  for (size_t i = 0; i < all.size() / shards; ++i) {
    const frost::data::ObjectStorage& st = all[i];
    std::string filters;
    for (const std::string& f : st.filters) filters += (filters.empty() ? "" : "+") + f;
    std::ostringstream os;
    os << "#   " << st.object << ": " << st.layout;
    if (st.layout == "chunked")
      os << ", " << st.chunk_rows << " rows (" << st.chunk_bytes << " B) per chunk, "
         << st.num_chunks << " chunks, " << (filters.empty() ? "no filter" : "filters " + filters);
    os << ", " << mb_text(st.stored_bytes) << " in the file; rows ";
    switch (st.access) {
      case frost::data::RowAccess::kMapped: os << "copied from a mapping of the file"; break;
      case frost::data::RowAccess::kDecoded:
        os << "copied from chunks decoded once and kept (" << mb_text(st.decoded_bytes) << ")";
        break;
      case frost::data::RowAccess::kHdf5:
        os << "read with H5Dread, HDF5 chunk cache " << st.chunk_cache_bytes << " B / "
           << st.chunk_cache_slots << " slots";
        break;
    }
    if (shards > 1) os << " (first of " << shards << " shards)";
    std::printf("%s\n", os.str().c_str());
  }
}

constexpr const char* kLoaderColumns[] = {"read",   "ranks",   "samples",   "time (s)",
                                          "spread", "cpu (s)", "samples/s", "MB/s",
                                          "vs raw", "vs tensors"};

void print_loader_header() {
  std::printf("#%19s  %5s  %9s  %9s  %6s  %9s  %11s  %8s  %7s  %10s\n", kLoaderColumns[0],
              kLoaderColumns[1], kLoaderColumns[2], kLoaderColumns[3], kLoaderColumns[4],
              kLoaderColumns[5], kLoaderColumns[6], kLoaderColumns[7], kLoaderColumns[8],
              kLoaderColumns[9]);
}

void print_loader_row(const LoaderRow& r) {
  std::printf("%20s  %5s  %9" PRId64 "  %9.4f  %5.0f%%  %9.4f  %11.0f  %8.1f  %7.3f  %10.3f\n",
              r.read.c_str(), r.ranks.c_str(), r.samples, r.seconds, r.spread * 100.0,
              r.cpu_seconds, r.samples_per_s, r.mb_per_s, r.vs_raw, r.vs_tensors);
  std::fflush(stdout);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string loader_csv(const std::vector<LoaderRow>& rows, const LoaderOptions& o) {
  std::string out = "file,read,ranks,world size,batch size,prefetch,epochs,samples,time (s),"
                    "spread,cpu (s),samples/s,MB/s,vs raw,vs tensors\n";
  char line[512];
  for (const LoaderRow& r : rows) {
    std::snprintf(line, sizeof line,
                  ",%s,%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
                  ",%.9f,%.4f,%.6f,%.1f,%.3f,%.4f,%.4f\n",
                  csv_field(r.read).c_str(), r.ranks.c_str(), o.ranks, o.batch_size, o.prefetch,
                  o.epochs, r.samples, r.seconds, r.spread, r.cpu_seconds, r.samples_per_s,
                  r.mb_per_s, r.vs_raw, r.vs_tensors);
    out += csv_field(r.file) + line;
  }
  return out;
}

/// One file: banner, warm-up, repeats of the three phases, table rows.
std::vector<LoaderRow> bench_file(const std::string& file, const LoaderOptions& o) {
  const std::vector<std::string> paths = frost::data::expand_paths({file});
  // Closed before anything is timed: HDF5 gives every handle of a dataset open in a process
  // one shared chunk cache, which would let one phase read what another decoded.
  auto ds = std::make_unique<frost::data::H5Dataset>(frost::data::H5Dataset::open(paths, o.open));
  const frost::data::DatasetInfo info = ds->info();
  const char* dtype = info.input_kind == frost::data::InputKind::kImage    ? "uint8"
                      : info.input_kind == frost::data::InputKind::kTokens ? "int32"
                                                                            : "float32";
  std::printf("# frost-bench loader: %s (%zu file%s)\n", file.c_str(), paths.size(),
              paths.size() == 1 ? "" : "s");
  std::printf("#   %" PRId64 " samples, %s %s %s (%" PRId64 " B per sample)%s\n",
              info.num_samples, frost::data::input_kind_name(info.input_kind),
              shape_text(info.sample_shape).c_str(), dtype,
              info.sample_numel() * info.element_bytes(),
              info.has_attention_mask ? ", with /attention_mask" : "");
  print_storage(*ds);
  ds.reset();
  std::printf("#   H5Dataset options: chunk cache budget %" PRId64 " MiB, direct reads %s\n",
              o.open.chunk_cache_bytes >> 20, o.open.direct_reads ? "on" : "off");
  const std::string ranks = o.rank >= 0      ? std::to_string(o.rank)
                            : o.ranks == 1   ? "0"
                                             : "0-" + std::to_string(o.ranks - 1);
  std::printf("#   batch size %" PRId64 " per rank, prefetch %" PRId64 ", shuffled: world size %"
              PRId64 " (timed: rank%s %s%s), epochs %" PRId64 ", seed %" PRIu64 "%s; repeats %"
              PRId64 " (medians)\n#\n",
              o.batch_size, o.prefetch, o.ranks, o.rank < 0 && o.ranks > 1 ? "s" : "",
              ranks.c_str(), o.rank < 0 && o.ranks > 1 ? ", one after another" : "", o.epochs,
              o.seed,
              o.steps > 0 ? (", first " + std::to_string(o.steps) + " steps per epoch").c_str() : "",
              o.repeats);
  print_loader_header();

  read_sequential(paths, info, 1);  // warm the page cache, untimed
  std::vector<Timed> raw, tensors, shuffled;
  for (int64_t rep = 0; rep < o.repeats; ++rep) {
    raw.push_back(read_sequential(paths, info, o.epochs));
    tensors.push_back(read_sequential_tensors(paths, info.num_samples, o));
    shuffled.push_back(read_shuffled(paths, info.num_samples, o));
  }
  std::vector<LoaderRow> rows{summarise(file, "sequential, raw", "-", raw),
                              summarise(file, "sequential, tensors", "-", tensors),
                              summarise(file, "loader, shuffled", ranks, shuffled)};
  for (LoaderRow& r : rows) {
    const auto ratio = [&](const LoaderRow& base) {
      return base.samples_per_s > 0 ? r.samples_per_s / base.samples_per_s : 0.0;
    };
    r.vs_raw = ratio(rows[0]);
    r.vs_tensors = ratio(rows[1]);
    print_loader_row(r);
  }
  std::printf("\n");
  return rows;
}

/// `frost-bench loader ...`: returns the exit status.
int run(int argc, char** argv) {
  LoaderParse parsed;
  try {
    parsed = parse_loader_args(argc, argv);
  } catch (const frost::Error& e) {
    std::fprintf(stderr, "frost-bench: error: %s\n", e.what());
    return 2;
  }
  if (parsed.help) {
    std::cout << parsed.help_text << std::flush;
    return 0;
  }
  const LoaderOptions& o = parsed.options;
  try {
    std::vector<LoaderRow> all;
    for (const std::string& file : o.data) {
      std::vector<LoaderRow> rows = bench_file(file, o);
      all.insert(all.end(), rows.begin(), rows.end());
    }
    if (!o.csv.empty()) frost::fs::write_file_atomic(o.csv, loader_csv(all, o));
    return 0;
  } catch (const std::exception& e) {
    const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
    std::fprintf(stderr, "frost-bench: error: %s\n",
                 torch_error ? torch_error->what_without_backtrace() : e.what());
    return 1;
  }
}

}  // namespace loader_bench

}  // namespace

int main(int argc, char** argv) {
  // The loader benchmark is one plain process: no MPI.
  if (argc >= 2 && std::strcmp(argv[1], "loader") == 0) return loader_bench::run(argc, argv);
  int rank = 0;
  try {
    frost::comm::init_mpi(&argc, &argv);
    auto comm = frost::comm::make_mpi_communicator();
    rank = comm->rank();
    const int world_size = comm->world_size();

    // Options are parsed on every rank and the verdict is agreed with one all-reduce, so a
    // bad command line ends the job with one message and exit status 2 (as frost-train).
    ParseResult parsed;
    std::string parse_error;
    try {
      parsed = parse_args(argc, argv);
      const Options& o = parsed.options;
      if (!parsed.help && o.check && o.dtype == at::kFloat) {
        FROST_CHECK(kPatternPeriod * world_size * (world_size + 1) / 2 <= (1 << 24),
                    "world size ", world_size, " is too large for an exact float32 check "
                    "(sums above 2^24); use --dtype float64 or --check false");
      }
      // Rank 0 writes the CSV: find a missing directory now, not after the whole run.
      if (!parsed.help && rank == 0 && !o.csv.empty()) {
        const auto slash = o.csv.find_last_of('/');
        const std::string dir = slash == std::string::npos ? "."
                                : slash == 0                ? "/"
                                                            : o.csv.substr(0, slash);
        FROST_CHECK(frost::fs::exists(dir), "--csv '", o.csv, "': directory '", dir,
                    "' does not exist");
      }
    } catch (const frost::Error& e) {
      parse_error = e.what();
    }
    if (frost::comm::agree_on_startup_error(*comm, parse_error, "frost-bench") > 0) {
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
    const Options& o = parsed.options;
    const std::vector<int64_t> sizes = message_sizes(o);

    // Banner (rank 0): world, backend, hosts, then the run's parameters.
    const std::string hosts = hosts_line(*comm);
    if (rank == 0) {
      std::printf("# frost-bench allreduce: world size %d, backend %s, hosts %s\n", world_size,
                  comm->backend().c_str(), hosts.c_str());
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
    const at::Tensor buffer = torch::empty({sizes.back() / static_cast<int64_t>(c10::elementSize(o.dtype))},
                                           torch::TensorOptions().dtype(o.dtype));
    std::vector<Row> rows;
    for (const int64_t size_bytes : sizes) {
      rows.push_back(bench_size(*comm, o, buffer, size_bytes));
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
      if (!o.csv.empty()) frost::fs::write_file_atomic(o.csv, csv_text(rows, o.dtype_name));
    }
    comm->barrier();  // no rank reports success before the CSV is on disk
    comm.reset();
    frost::comm::finalize_mpi();
    if (wrong_total > 0) {
      if (rank == 0) {
        std::fprintf(stderr,
                     "frost-bench: error: the all-reduce returned %" PRId64
                     " wrong elements in %" PRId64 " of %zu sizes (details above, per rank)\n",
                     wrong_total, wrong_sizes, rows.size());
      }
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    // One clear line on stderr, then end every rank (Note [Failing the whole job] in
    // src/apps/frost_train.cpp).
    const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
    std::string msg = torch_error ? torch_error->what_without_backtrace() : e.what();
    if (msg.rfind("[rank ", 0) != 0) msg = "[rank " + std::to_string(rank) + "] " + msg;
    std::fprintf(stderr, "frost-bench: error: %s\n", msg.c_str());
    std::fflush(stderr);
    frost::comm::abort_job(1);
  }
}
