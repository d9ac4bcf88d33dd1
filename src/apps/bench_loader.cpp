// frost-bench loader: samples/s the HDF5 data path delivers to a training step, against a
// sequential read of the same file in the same run (Note [Loader benchmark]).
//
//   build/frost-bench loader --data FILE [--data FILE ...] [--batch-size 64] [--prefetch 2]
//       [--ranks 1] [--rank R] [--epochs 1] [--steps 0] [--repeats 3] [--seed 0] [--csv FILE]
//       [--chunk-cache-mb 512] [--direct-reads true] [--shuffle-mode auto] [--shuffle-buffer 0]
//
// One process, no MPI: the ranks of a job are simulated one after another. Exit status: 0, 1
// on a failed read, 2 for a bad command line.
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
//                        training job uses it, one BatchLoader per epoch. --shuffle-mode picks
//                        the global permutation or the block shuffle (Note [Block shuffle] in
//                        sampler.h) as data.shuffle_mode does, with the window of
//                        --shuffle-buffer (0: from --chunk-cache-mb); the banner says which,
//                        and the table's "decoded peak" line gives the most decoded bytes one
//                        simulated rank held at once.
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
#include <hdf5.h>
#include <sys/resource.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "apps/app_runner.h"
#include "apps/bench.h"
#include "apps/bench_options.h"
#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/h5_util.h"
#include "frost/data/sampler.h"
#include "frost/train/augment.h"
#include "frost/train/config.h"
#include "frost/train/loader.h"

namespace frost::bench {

namespace {

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
  std::string shuffle_mode = "auto";  // auto | global | block, as data.shuffle_mode
  int64_t shuffle_buffer = 0;         // block shuffle window; 0 = from the budget
  // Images: the training transform of data.augment / data.image_size in every loader phase.
  std::string augment = "none";
  int64_t image_size = 0;
};

constexpr const char* kLoaderUsage =
    "usage: frost-bench loader --data FILE [--data FILE ...] [options]\n"
    "\n"
    "Measures, for each file, the samples/s of a sequential read of the whole file with plain\n"
    "HDF5 calls (raw) and with Frost's BatchLoader (tensors as a training step gets them), then\n"
    "of the BatchLoader over the training sampler's shuffled batches of --ranks simulated\n"
    "ranks, and the ratios to both sequential reads. No MPI: run it as a plain process, e.g.\n"
    "  build/frost-bench loader --data data/train.h5 --ranks 2 --csv loader.csv\n";

/// Parses `frost-bench loader ...` (argv[1] is "loader") into `o`; returns the --help text
/// when asked for. Throws frost::Error for the user.
std::optional<std::string> parse_args(int argc, const char* const* argv, LoaderOptions& o) {
  BenchCommandLine command_line(
      "command", kLoaderUsage, "see frost-bench loader --help",
      "unexpected positional argument: usage: frost-bench loader --data FILE [options]");
  std::string rank_text = "all";
  int64_t chunk_cache_mb = o.open.chunk_cache_bytes >> 20;
  namespace po = boost::program_options;
  command_line.options().add_options()
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
       "read unfiltered rows from a mapping of the file instead of with H5Dread (true | false)")
      ("shuffle-mode", po::value<std::string>(&o.shuffle_mode)->default_value(o.shuffle_mode),
       "shuffled phase: auto (block when the compressed data does not fit --chunk-cache-mb "
       "decoded) | global | block, as data.shuffle_mode")
      ("shuffle-buffer", po::value<int64_t>(&o.shuffle_buffer)->default_value(o.shuffle_buffer),
       "block shuffle: rows per window (0 = from --chunk-cache-mb), as data.shuffle_buffer")
      ("augment", po::value<std::string>(&o.augment)->default_value(o.augment),
       "images: the loader phases apply data.augment's training transform (none | flip | crop "
       "| crop_flip)")
      ("image-size", po::value<int64_t>(&o.image_size)->default_value(o.image_size),
       "images: data.image_size of that transform (0 = the stored size)");
  std::string command;
  if (auto help = command_line.parse(argc, argv, command)) return help;
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
  FROST_CHECK(o.shuffle_mode == "auto" || o.shuffle_mode == "global" || o.shuffle_mode == "block",
              "--shuffle-mode must be auto, global or block, got '", o.shuffle_mode, "'");
  FROST_CHECK(o.shuffle_buffer >= 0, "--shuffle-buffer must be >= 0, got ", o.shuffle_buffer);
  o.open.release_over_budget = o.shuffle_mode != "global";  // as the Trainer
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
  if (!o.csv.empty()) check_csv_directory(o.csv);
  return std::nullopt;
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
  int64_t decoded_peak = 0;  // most decoded bytes a dataset held at once (max over ranks)
  int64_t samples = 0;
  int64_t bytes = 0;  // decoded /inputs (+ /attention_mask) bytes delivered
  double seconds = 0.0;
  double cpu_seconds = 0.0;  // CPU time of the process meanwhile (Note [Loader benchmark])
};

// ---- sequential read with plain HDF5 calls (Note [Loader benchmark])

// Reads every row of `object` in file order: one H5Dread of `block_rows` rows at a time into
// `buffer` (reused). Returns the bytes read. Caller holds the HDF5 lock (H5Lock).
int64_t read_object_in_order(hid_t file, const char* object, hid_t mem_type,
                             const std::string& path, std::vector<uint8_t>& buffer) {
  using frost::data::H5Id;
  const H5Id dset = frost::data::dataset_id(
      H5_CHECK(H5Dopen2(file, object, H5P_DEFAULT), path, ": opening /", object));
  const H5Id fspace =
      frost::data::space_id(H5_CHECK(H5Dget_space(dset.get()), path, ": /", object));
  const int rank = H5_CHECK(H5Sget_simple_extent_ndims(fspace.get()), path, ": /", object);
  std::vector<hsize_t> dims(static_cast<size_t>(rank)), chunk(static_cast<size_t>(rank));
  H5_CHECK(H5Sget_simple_extent_dims(fspace.get(), dims.data(), nullptr), path, ": /", object);
  hsize_t block_rows = 1024;
  {
    const H5Id dcpl = frost::data::plist_id(
        H5_CHECK(H5Dget_create_plist(dset.get()), path, ": /", object));
    if (H5Pget_layout(dcpl.get()) == H5D_CHUNKED &&
        H5Pget_chunk(dcpl.get(), rank, chunk.data()) == rank) {
      block_rows = chunk[0];
    }
  }
  size_t row_bytes = H5Tget_size(mem_type);
  for (int i = 1; i < rank; ++i) row_bytes *= static_cast<size_t>(dims[static_cast<size_t>(i)]);
  buffer.resize(std::max<size_t>(buffer.size(), block_rows * row_bytes));
  std::vector<hsize_t> start(static_cast<size_t>(rank), 0), count = dims;
  for (hsize_t row = 0; row < dims[0]; row += block_rows) {
    start[0] = row;
    count[0] = std::min(block_rows, dims[0] - row);
    H5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr,
                                 count.data(), nullptr),
             path, ": /", object);
    const H5Id mspace = frost::data::space_id(
        H5_CHECK(H5Screate_simple(rank, count.data(), nullptr), path, ": /", object));
    H5_CHECK(H5Dread(dset.get(), mem_type, mspace.get(), fspace.get(), H5P_DEFAULT,
                     buffer.data()),
             path, ": reading /", object, " in order");
  }
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
  frost::data::H5Lock lock;  // first: the identifiers below close while it is held
  const double cpu0 = process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t pass = 0; pass < passes; ++pass) {
    for (const std::string& path : paths) {
      const frost::data::H5Id fapl = frost::data::make_read_fapl(path);  // as H5Dataset
      const frost::data::H5Id file = frost::data::file_id(H5_CHECK(
          H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), path, ": opening the file"));
      t.bytes += read_object_in_order(file.get(), "inputs", input_type, path, buffer);
      if (info.has_attention_mask) {
        t.bytes +=
            read_object_in_order(file.get(), "attention_mask", H5T_NATIVE_UINT8, path, buffer);
      }
      read_object_in_order(file.get(), "labels", H5T_NATIVE_INT64, path, buffer);
    }
  }
  t.seconds = seconds_since(t0);
  t.cpu_seconds = process_cpu_seconds() - cpu0;
  t.samples = info.num_samples * passes;
  return t;
}

// ---- BatchLoader phases

// Times one BatchLoader per element of `epochs` (one after another, as the Trainer makes one
// per epoch) over the already opened `ds`.
Timed time_loaders(const frost::data::H5Dataset& ds,
                   std::vector<std::vector<std::vector<int64_t>>> epochs, const LoaderOptions& o) {
  Timed t;
  const double cpu0 = process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t epoch = 0; epoch < epochs.size(); ++epoch) {
    frost::train::ImageOptions images;
    if (ds.info().input_kind == frost::data::InputKind::kImage) {  // --augment, --image-size
      const std::string size = std::to_string(o.image_size);
      const char* args[] = {"frost-bench",     "--data.train",      "-",         "--data.augment",
                            o.augment.c_str(), "--data.image_size", size.c_str()};
      const frost::train::Config cfg = frost::train::parse_args(7, args).config;
      images = frost::train::image_options(cfg, ds.info(), /*training=*/true,
                                           static_cast<int64_t>(epoch));
    }
    frost::train::BatchLoader loader(ds, std::move(epochs[epoch]), static_cast<int>(o.prefetch),
                                     c10::Device(c10::kCPU), images);
    frost::train::Batch batch;
    while (loader.next(batch)) {
      t.samples += batch.inputs.size(0);
      t.bytes += static_cast<int64_t>(batch.inputs.nbytes());
      if (batch.attention_mask.defined())
        t.bytes += static_cast<int64_t>(batch.attention_mask.nbytes());
    }
  }
  t.seconds = seconds_since(t0);
  t.cpu_seconds = process_cpu_seconds() - cpu0;
  t.decoded_peak = ds.decoded_peak_bytes();
  return t;
}

// Times a BatchLoader over `batches` of a freshly opened dataset (opening is not timed).
Timed time_loader(const std::vector<std::string>& paths,
                  std::vector<std::vector<int64_t>> batches, const LoaderOptions& o) {
  const frost::data::H5Dataset ds = frost::data::H5Dataset::open(paths, o.open);
  std::vector<std::vector<std::vector<int64_t>>> one;
  one.push_back(std::move(batches));
  return time_loaders(ds, std::move(one), o);
}

// The block shuffle is used (as the Trainer decides, Note [Block shuffle] in sampler.h).
bool use_block_shuffle(const frost::data::H5Dataset& ds, const LoaderOptions& o) {
  return o.shuffle_mode == "block" || (o.shuffle_mode == "auto" && !ds.fits_decode_budget());
}

// The TrainSampler of simulated rank `r`, as the Trainer builds it for data.shuffle_mode.
frost::data::TrainSampler shuffled_sampler(const frost::data::H5Dataset& ds, int64_t num_samples,
                                           int r, const LoaderOptions& o) {
  const int world = static_cast<int>(o.ranks);
  if (!use_block_shuffle(ds, o))
    return frost::data::TrainSampler(num_samples, world, r, o.batch_size, o.seed,
                                     /*shuffle=*/true, /*drop_last=*/false);
  frost::data::BlockLayout layout;
  layout.block_ends = ds.block_ends();
  int64_t max_rows = 0;
  for (size_t b = 0; b < layout.block_ends.size(); ++b)
    max_rows = std::max(max_rows, layout.block_ends[b] - (b == 0 ? 0 : layout.block_ends[b - 1]));
  const frost::data::DatasetInfo& info = ds.info();
  const int64_t row_bytes = ds.decoded_row_bytes() > 0 ? ds.decoded_row_bytes()
                                                       : info.sample_numel() * info.element_bytes();
  layout.window = o.shuffle_buffer > 0 ? o.shuffle_buffer
                                       : frost::data::block_shuffle_window(
                                             o.open.chunk_cache_bytes, row_bytes, max_rows);
  return frost::data::TrainSampler(num_samples, world, r, o.batch_size, o.seed,
                                   /*drop_last=*/false, std::move(layout));
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
    const frost::data::H5Dataset ds = frost::data::H5Dataset::open(paths, o.open);
    const frost::data::TrainSampler sampler = shuffled_sampler(ds, num_samples, r, o);
    std::vector<std::vector<std::vector<int64_t>>> epochs;
    for (int64_t e = 0; e < o.epochs; ++e) {
      std::vector<std::vector<int64_t>> epoch = sampler.epoch_batches(e);
      keep_steps(epoch, o.steps);
      epochs.push_back(std::move(epoch));
    }
    const Timed t = time_loaders(ds, std::move(epochs), o);
    total.decoded_peak = std::max(total.decoded_peak, t.decoded_peak);
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
  std::sort(runs.begin(), runs.end(),
            [](const Timed& a, const Timed& b) { return a.seconds < b.seconds; });
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
        if (ds.releases_blocks())
          os << "copied from chunks decoded as needed and released after their last row ("
             << mb_text(st.decoded_bytes) << " decoded in all)";
        else
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
  std::string shuffle_text = "global permutation";
  if (use_block_shuffle(*ds, o)) {
    const frost::data::TrainSampler s = shuffled_sampler(*ds, info.num_samples, 0, o);
    shuffle_text = "block shuffle, " + std::to_string(ds->block_ends().size()) +
                   " blocks, windows of " + std::to_string(s.window()) + " rows per rank";
  }
  std::printf("#   shuffled phase: %s (--shuffle-mode %s; the compressed data %s the budget)\n",
              shuffle_text.c_str(), o.shuffle_mode.c_str(),
              ds->fits_decode_budget() ? "fits" : "does not fit");
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
              o.steps > 0 ? (", first " + std::to_string(o.steps) + " steps per epoch").c_str()
                          : "",
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
  int64_t peak = 0;
  for (const Timed& t : shuffled) peak = std::max(peak, t.decoded_peak);
  std::printf("# decoded peak (shuffled phase, one simulated rank): %s held at once, budget %s\n",
              mb_text(peak).c_str(), mb_text(o.open.chunk_cache_bytes).c_str());
  std::printf("\n");
  return rows;
}


}  // namespace

int loader_main(int argc, char** argv) {
  LoaderOptions o;
  std::optional<std::string> help;
  const int parse_status = apps::run_program(
      "frost-bench",
      [&] {
        help = parse_args(argc, argv, o);
        return 0;
      },
      2, apps::describe_exception);
  if (parse_status != 0) return parse_status;
  if (help) {
    std::cout << *help << std::flush;
    return 0;
  }
  return apps::run_program(
      "frost-bench",
      [&] {
        std::vector<LoaderRow> all;
        for (const std::string& file : o.data) {
          std::vector<LoaderRow> rows = bench_file(file, o);
          all.insert(all.end(), rows.begin(), rows.end());
        }
        if (!o.csv.empty()) fs::write_file_atomic(o.csv, loader_csv(all, o));
        return 0;
      },
      1, apps::describe_exception);
}

}  // namespace frost::bench
