// Reading and writing Frost HDF5 datasets (schema: frost/data/dataset_info.h, docs/data.md).
//
// Note [HDF5 lock]
// ----------------
// The HDF5 library Frost links (Debian's libhdf5, serial) is not built thread-safe: two threads
// inside the library at once corrupt its global state (error stack, caches, id tables). Every
// HDF5 call made by Frost therefore runs under one process-wide std::mutex, hdf5_mutex(). The
// functions and methods below take it themselves; callers must NOT hold it when calling them
// (it is not recursive). Code outside this library that calls HDF5 directly must take it too,
// best with an H5Lock (frost/data/h5_util.h, which also has H5_CHECK and H5Id for such code).
// Consequence: H5Dataset reads from several threads are safe but serialised, except reads of
// rows in memory (a mapping of the file or decoded chunks, Note [Direct reads] and Note [Chunk
// cache] in h5_row_access.cpp), which call no HDF5 function and take no lock once the chunks
// they need are decoded; the prefetching BatchLoader overlaps reads with compute. The first
// H5Lock also turns off HDF5's automatic printing of error stacks (H5Eset_auto2),
// process-wide: errors reach the user through H5_CHECK's frost::Error messages instead.
//
// Where the code is: h5_util (HDF5 plumbing, attributes), h5_write.cpp (write_dataset),
// h5_schema.cpp (the checks at open), h5_row_access.cpp (how rows are read), h5_dataset.cpp
// (H5Dataset itself); each file opens with a map.
//
// No LibTorch here: this header is cheap to include and the data tests build without torch.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "frost/data/dataset_info.h"

namespace frost::data {

/// The process-wide lock around every HDF5 call; see Note [HDF5 lock].
std::mutex& hdf5_mutex();

/// Expands dataset paths: an entry containing a glob metacharacter (* ? [) is expanded with
/// glob(3) and its matches sorted in byte order; any other entry is kept as it is (its existence
/// is checked when it is opened). Entries stay in the order given.
/// Throws frost::Error when a pattern matches nothing (naming the pattern), when the list or
/// its expansion is empty, or when a file appears twice (it would count its samples twice).
std::vector<std::string> expand_paths(const std::vector<std::string>& paths);

/// Optional extras for write_dataset.
struct WriteOptions {
  /// Rows per chunk along axis 0 (>= 1); the chunk is min(chunk_rows, N) rows.
  int64_t chunk_rows = 1024;
  /// /attention_mask, uint8 [N, L] row-major; required iff info.has_attention_mask.
  const uint8_t* attention_mask = nullptr;
  /// /targets, float32 [N, K] row-major (K = info.num_targets = info.num_classes); required iff
  /// info.task is multilabel (values 0 or 1, stored as uint8) or regression (finite values,
  /// stored as float32); `labels` must then be null.
  const float* targets = nullptr;
  /// /token_type_ids, uint8 [N, L] row-major, each 0 or 1; required iff
  /// info.has_token_type_ids (which needs info.has_attention_mask).
  const uint8_t* token_type_ids = nullptr;
  /// Extra root attributes stored as int64 1-D arrays, e.g. {"class_ids", {5, 6, 7, 8, 9}}.
  std::map<std::string, std::vector<int64_t>> int64_attributes;
  /// Extra root attributes stored as scalar variable-length UTF-8 strings, e.g.
  /// {"label_values", "[\"neg\",\"pos\"]"}. Names must differ from int64_attributes'.
  std::map<std::string, std::string> string_attributes;
  /// gzip (deflate) level of every dataset, 1-9; 0 = no filter (the default). Compressed
  /// chunks are decoded whole on reading (Note [Chunk cache] in h5_row_access.cpp).
  int deflate_level = 0;
};

/// Writes one dataset file atomically: everything goes to `path + ".tmp.<pid>"`, which is
/// fsync'ed and renamed over `path` (and the directory fsync'ed); on any error the temporary
/// file is removed and nothing is left at `path` (an older file there stays untouched).
///
/// info: num_samples N >= 1, sample_shape (each dim >= 1; images [C, H, W]), input_kind,
///       num_classes >= 1, task, has_attention_mask (tokens only), mean/std (images: one per
///       channel, std > 0; in [0, 1] pixel units).
/// inputs: N * info.sample_numel() elements, row-major: uint8 (image), float32 (features) or
///         int32 (tokens), written as /inputs [N, sample_shape...].
/// labels: N int64 class indices, each in [0, num_classes), written as /labels [N]
///         (task classification; null for the other tasks, which write options.targets).
/// Root attributes: frost_schema (= kFrostSchemaVersion), task, num_classes (classification,
/// multilabel) or num_targets (regression), input_kind,
/// mean/std (images), options.int64_attributes and options.string_attributes. Datasets are
/// chunked along axis 0, gzip-compressed at options.deflate_level (none at 0). Throws frost::Error (naming `path`) on a bad
/// argument or any HDF5/I/O failure.
void write_dataset(const std::string& path, const DatasetInfo& info, const void* inputs,
                   const int64_t* labels, const WriteOptions& options);

/// write_dataset with default options and the given rows per chunk (see WriteOptions).
void write_dataset(const std::string& path, const DatasetInfo& info, const void* inputs,
                   const int64_t* labels, int64_t chunk_rows = 1024);

/// How H5Dataset::read gets the rows of one stored object.
enum class RowAccess {
  /// One H5Dread per run of rows (Note [Reading runs] in h5_row_access.cpp); filtered chunks are
  /// cached by HDF5 (Note [Chunk cache]).
  kHdf5,
  /// Copied from a read-only mapping of the file, without HDF5 (Note [Direct reads]).
  kMapped,
  /// Filtered data kept decoded in memory by Frost: each block of chunk_rows rows is decoded
  /// by one H5Dread when first needed, then rows are copied from it (Note [Chunk cache]).
  kDecoded,
};

/// "H5Dread", "mapped" or "decoded".
const char* row_access_name(RowAccess access);

/// How one stored object (/inputs or /attention_mask) of one shard is laid out in its file and
/// how H5Dataset::read gets its rows; see H5Dataset::storage().
struct ObjectStorage {
  std::string path;    ///< the shard file
  std::string object;  ///< "/inputs" or "/attention_mask"
  /// "chunked", "contiguous", "compact" or "virtual" (H5Pget_layout).
  std::string layout;
  int64_t chunk_rows = 0;   ///< rows per chunk along axis 0; 0 unless chunked
  int64_t chunk_bytes = 0;  ///< bytes of one decoded chunk (all its dims); 0 unless chunked
  int64_t num_chunks = 0;   ///< chunks along axis 0 (ceil(rows / chunk_rows)); 0 unless chunked
  /// The filter pipeline in order, by HDF5's names ("deflate", "shuffle", ...); empty when the
  /// chunks are stored as they are.
  std::vector<std::string> filters;
  int64_t stored_bytes = 0;  ///< bytes the object takes in the file (H5Dget_storage_size)
  /// The open dataset's chunk cache (H5Pget_chunk_cache on its access property list):
  /// rdcc_nbytes (bytes), rdcc_nslots (hash slots) and rdcc_w0 (preemption weight in [0, 1]).
  int64_t chunk_cache_bytes = 0;
  int64_t chunk_cache_slots = 0;
  double chunk_cache_w0 = 0.0;
  /// How read() gets the rows.
  RowAccess access = RowAccess::kHdf5;
  /// kDecoded: bytes the decoded object takes once every block has been read (rows x bytes
  /// per row in memory), and the bytes decoded so far. 0 otherwise.
  int64_t decoded_bytes = 0;
  int64_t decoded_held_bytes = 0;
};

/// Rows per block of H5Dataset::block_ends() for an /inputs that is not chunked.
constexpr int64_t kBlockRowsUnchunked = 1024;

/// Default of OpenOptions::chunk_cache_bytes: 512 MiB.
constexpr int64_t kDefaultChunkCacheBytes = int64_t{512} << 20;

/// Options of H5Dataset::open.
struct OpenOptions {
  /// Bytes of decoded chunks that may be kept in memory for the filtered (e.g. compressed)
  /// /inputs and /attention_mask of all shards together (Note [Chunk cache] in
  /// h5_row_access.cpp). When all their decoded chunks fit, Frost keeps each chunk once decoded
  /// (RowAccess::kDecoded), however the rows are shuffled; otherwise HDF5 caches chunks, each
  /// object getting a share proportional to its size and at least one chunk. Memory is taken
  /// only as chunks are read. Unfiltered data takes none (the page cache holds it). >= 0.
  int64_t chunk_cache_bytes = kDefaultChunkCacheBytes;
  /// Read unfiltered rows stored as they are needed from a read-only mapping of the file
  /// instead of through HDF5 (Note [Direct reads] in h5_row_access.cpp). false: H5Dread.
  bool direct_reads = true;
  /// When the filtered data does NOT fit chunk_cache_bytes: false, HDF5's chunk cache as above;
  /// true, Frost still decodes whole blocks into its own memory (RowAccess::kDecoded, HDF5
  /// caches nothing) and the reader drops each block once it is done with it
  /// (H5Dataset::release_blocks, which BatchLoader calls; releases_blocks() is then true). For
  /// readers that go block by block (the block shuffle, Note [Block shuffle] in sampler.h, and
  /// sequential reads): each block is decoded once per pass, and memory is what the reader keeps
  /// in use. No effect when the filtered data fits (then it is kept decoded anyway).
  bool release_over_budget = false;
};

/// A dataset made of one or more shard files, read-only. Rows of the shards are numbered
/// globally in shard order: shard 0's rows first, then shard 1's, and so on.
///
/// /labels of every shard is read and validated at open() and kept in memory (8 bytes per row);
/// read() takes labels from there and reads only /inputs (and /attention_mask) from disk. The
/// same holds for /targets (tasks multilabel and regression: 4 x K bytes per row, read_targets).
///
/// Threads: any thread may use an H5Dataset, including one other than the thread that opened
/// it; const methods may be called concurrently (HDF5 access is serialised, Note [HDF5 lock];
/// reads of directly read objects take no lock and run in parallel).
/// Movable, not copyable; the destructor closes the HDF5 handles (taking the HDF5 lock).
class H5Dataset {
 public:
  /// Opens the shard files named by `paths` (files or glob patterns, see expand_paths) and
  /// validates each: readable, an HDF5 file, root attribute frost_schema == kFrostSchemaVersion,
  /// input_kind and num_classes (>= 1) present (regression: num_targets), task (when present)
  /// one of classification | multilabel | regression, /inputs with the dtype class of input_kind
  /// (image: unsigned 8-bit integer, rank 4; features: float, rank >= 2; tokens: integer,
  /// rank 2), /labels integer [N] with N >= 1 equal to /inputs' N, every label in
  /// [0, num_classes) (classification; multilabel and regression: /targets [N, K] with every
  /// value 0 or 1, or finite), mean/std (images) with one value per channel and std > 0, and
  /// /attention_mask (if present) integer [N, L] matching tokens, /token_type_ids (if present;
  /// needs /attention_mask) integer [N, L] matching tokens with values 0 and 1, the 1s of each
  /// row one run (Note [Token type spans] in h5_schema.cpp). All shards must agree on
  /// input_kind, sample shape, num_classes, task, mean/std and presence of /attention_mask and
  /// /token_type_ids.
  /// Throws frost::Error naming the file (and both files for a disagreement) and the dataset
  /// or index at fault, e.g. "train.h5: /labels[1042] = 12 is outside [0, 10) (num_classes
  /// attribute)". `options`: how rows are read and cached (OpenOptions); they change speed and
  /// memory, never the data read.
  static H5Dataset open(const std::vector<std::string>& paths,
                        const OpenOptions& options = OpenOptions());

  H5Dataset(H5Dataset&&) noexcept;
  H5Dataset& operator=(H5Dataset&&) noexcept;
  H5Dataset(const H5Dataset&) = delete;
  H5Dataset& operator=(const H5Dataset&) = delete;
  ~H5Dataset();

  /// Schema and total size (num_samples summed over shards).
  const DatasetInfo& info() const;
  /// Total number of rows N over all shards.
  int64_t size() const;
  /// The shard files in global row order (after glob expansion).
  const std::vector<std::string>& paths() const;

  /// Layout and read path of every stored object: /inputs of each shard in shard order, each
  /// followed by its /attention_mask when the dataset has one. For benchmarks, tests and logs.
  /// Throws frost::Error when HDF5 cannot describe an object (naming the file).
  std::vector<ObjectStorage> storage() const;

  /// Reads the rows `indices` (global, each in [0, size()), any order, may span shards, may
  /// repeat) into the caller's buffers in the order given:
  ///   inputs_out: indices.size() * info().sample_numel() elements of the /inputs type
  ///               (uint8 image, float32 features, int32 tokens), row-major;
  ///   labels_out: indices.size() int64 (may be nullptr to skip labels);
  ///   attention_mask_out: indices.size() * L uint8, or nullptr to skip (must be nullptr when
  ///               the dataset has no /attention_mask).
  /// How: when every object asked for is in memory (ObjectStorage::access kMapped or
  /// kDecoded; blocks not decoded yet are decoded first, under the HDF5 lock), each row is
  /// copied to its place (Note [Direct reads], Note [Chunk cache] in h5_row_access.cpp).
  /// Otherwise indices are sorted and de-duplicated, consecutive rows grouped into runs, and
  /// each run is read with one hyperslab selection and one H5Dread (measured much faster than
  /// one OR-ed selection per shard, Note [Reading runs]) into a staging buffer in ascending row
  /// order, which is then scattered to the requested order (skipped when `indices` is already
  /// strictly ascending: rows go straight into inputs_out). A filtered chunk is decoded at most
  /// once per call, and once per open dataset while the filtered data fits
  /// OpenOptions::chunk_cache_bytes.
  /// Throws frost::Error when an index is out of range (naming it and its position) or an HDF5
  /// read fails (naming the file); the out buffers are then unspecified.
  ///   token_type_ids_out: indices.size() * L uint8 (0 or 1), or nullptr to skip (must be
  ///               nullptr when the dataset has no /token_type_ids); filled from memory
  ///               (Note [Token type spans] in h5_schema.cpp), never read from disk here.
  void read(const std::vector<int64_t>& indices, void* inputs_out, int64_t* labels_out,
            uint8_t* attention_mask_out = nullptr, uint8_t* token_type_ids_out = nullptr) const;

  /// The blocks rows are read in, as global row ends (ascending, the last is size()): the
  /// chunks of every shard's /inputs along axis 0 (kBlockRowsUnchunked rows when /inputs is
  /// not chunked), shard after shard. The BlockLayout of the block shuffle (sampler.h).
  std::vector<int64_t> block_ends() const;
  /// Bytes one row takes decoded in the filtered objects (/inputs and /attention_mask of a
  /// filtered shard; the largest over shards); 0 when nothing is filtered. With block_ends():
  /// the memory a window of the block shuffle needs (block_shuffle_window in sampler.h).
  int64_t decoded_row_bytes() const;
  /// The filtered data does not fit OpenOptions::chunk_cache_bytes and is decoded block by
  /// block to be released by the reader (OpenOptions::release_over_budget).
  bool releases_blocks() const;
  /// The filtered data all fits OpenOptions::chunk_cache_bytes (also true when nothing is
  /// filtered): rows are read from memory in any order at no decoding cost once decoded.
  bool fits_decode_budget() const;
  /// When releases_blocks(): frees the decoded blocks (of /inputs and /attention_mask) that hold
  /// the global rows `rows`; a later read of them decodes them again. No-op otherwise. Call it
  /// only when no other thread reads those rows meanwhile (BatchLoader: its own thread, after
  /// the last batch that needs them). Takes the HDF5 lock. Throws frost::Error for a row out of
  /// range.
  void release_blocks(const std::vector<int64_t>& rows) const;
  /// Bytes of decoded blocks held now, and the most held at once since open (all objects).
  int64_t decoded_held_bytes() const;
  int64_t decoded_peak_bytes() const;
  /// Tasks multilabel and regression (info().num_targets = K > 0): the /targets rows of
  /// `indices` (as read()) into `targets_out`, indices.size() x K float32, row-major, from the
  /// copy read and validated at open() (4 x K bytes per row in memory; multilabel 0/1 values
  /// as 0.0f/1.0f). read() must then be called with labels_out = nullptr. Throws frost::Error
  /// for a dataset without /targets or an index out of range.
  void read_targets(const std::vector<int64_t>& indices, float* targets_out) const;

 private:
  struct Impl;
  explicit H5Dataset(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace frost::data
