// One open shard file of an H5Dataset, and the steps that work on it. Internal to frost::data:
// h5_dataset.cpp (the dataset) drives them; nothing outside this folder includes this header.
//
//   open_shard, check_same_schema    h5_schema.cpp: validation at open (the schema of
//                                    dataset_info.h and docs/data.md)
//   configure_reads, read_rows,      h5_row_access.cpp: how rows are read - H5Dread per run
//   decode_blocks, copy_rows,        (Note [Reading runs]), decoded chunks (Note [Chunk cache]),
//   describe_object                  a mapped file (Note [Direct reads])
//
// Every function here calls HDF5 and expects the caller to hold the HDF5 lock (H5Lock), except
// copy_rows and RowSource::row, which read memory only.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "frost/data/dataset_info.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/h5_util.h"

namespace frost::data::internal {

// A read-only mapping of a whole file (Note [Direct reads]); unmapped by the destructor.
class FileMapping {
 public:
  FileMapping() = default;
  FileMapping(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  FileMapping(FileMapping&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  FileMapping& operator=(FileMapping&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  FileMapping(const FileMapping&) = delete;
  FileMapping& operator=(const FileMapping&) = delete;
  ~FileMapping() { reset(); }

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  void reset();

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// How read() finds the rows of one object (ObjectStorage::access).
struct RowSource {
  RowAccess access = RowAccess::kHdf5;
  int64_t rows = 0;        // rows of the object (this shard)
  int64_t chunk_rows = 0;  // rows per chunk; all rows when contiguous
  size_t row_bytes = 0;    // bytes of one row in memory
  // kMapped: where each chunk's first row is in the mapped file (Note [Direct reads]).
  std::vector<const uint8_t*> chunk_at;
  // kDecoded (Note [Chunk cache]): block c = rows [c * chunk_rows, ...) decoded, or null until
  // a read first needs it. Written once, under the HDF5 lock, and published with release
  // ordering, so threads that find a block non-null read it without a lock.
  std::unique_ptr<std::atomic<const uint8_t*>[]> decoded;
  mutable std::vector<std::unique_ptr<uint8_t[]>> decoded_blocks;  // owned; under the lock
  // filtered: the object is filtered (compressed); its decoded bytes count in decoded_row_bytes.
  bool filtered = false;
  // Blocks may be freed by H5Dataset::release_blocks (OpenOptions::release_over_budget).
  bool releasable = false;

  bool in_memory() const { return access != RowAccess::kHdf5; }
  int64_t num_blocks() const { return (rows + chunk_rows - 1) / chunk_rows; }
  // Row r; kMapped, or kDecoded with r's block decoded.
  const uint8_t* row(int64_t r) const {
    const auto c = static_cast<size_t>(r / chunk_rows);
    const uint8_t* base =
        access == RowAccess::kMapped ? chunk_at[c] : decoded[c].load(std::memory_order_acquire);
    return base + static_cast<size_t>(r % chunk_rows) * row_bytes;
  }
};

// One shard file: its handles and rows (open_shard), how its objects are read
// (configure_reads) and where its rows sit among the dataset's (H5Dataset::open).
struct Shard {
  std::string path;
  int64_t first_row = 0;  // global index of this shard's row 0
  int64_t rows = 0;
  H5Id file;
  H5Id inputs;
  H5Id attention_mask;  // invalid when the dataset has none
  FileMapping mapping;  // the whole file, when an object below is kMapped
  RowSource inputs_rows, mask_rows;
  // Rows per block of H5Dataset::block_ends(): /inputs' chunk rows, or kBlockRowsUnchunked.
  int64_t block_rows = 0;
  // /token_type_ids (Note [Token type spans] in h5_schema.cpp): row r has type 1 exactly at
  // columns [type_begin[r], type_end[r]) and 0 elsewhere; empty when the dataset has none.
  std::vector<int32_t> type_begin, type_end;
};

// ---- h5_schema.cpp -------------------------------------------------------------------------

// Opens and validates one shard file (the checks listed at H5Dataset::open); fills `shard`
// (path, file, inputs, attention_mask, rows) and appends its labels to `labels_out`
// (classification) or its /targets rows, float32 row-major [rows, K], to `targets_out`
// (multilabel, regression); returns the shard's schema (num_samples = its rows). Throws
// frost::Error naming the file.
DatasetInfo open_shard(const std::string& path, Shard& shard, std::vector<int64_t>& labels_out,
                       std::vector<float>& targets_out);

// Throws when shard `b` disagrees with shard `a` on the schema (Horovod-style message naming
// both files). Calls no HDF5 function.
void check_same_schema(const DatasetInfo& a, const std::string& path_a, const DatasetInfo& b,
                       const std::string& path_b);

// ---- h5_row_access.cpp ---------------------------------------------------------------------

// The HDF5 memory type of /inputs rows: uint8 images, float32 features, int32 tokens.
hid_t memory_type(InputKind kind);

// Reads rows[0..n) (ascending, unique, local to the shard) of `dset` into `dst`
// (n * row_numel elements of `mem_type`, in the same order): one H5Dread per run of
// consecutive rows (Note [Reading runs]). `name` and `path` are for messages.
void read_rows(hid_t dset, const char* name, const std::string& path, hid_t mem_type,
               const std::vector<int64_t>& sample_shape, const int64_t* rows, size_t n, void* dst);

// Sets up how read() reads every /inputs and /attention_mask of `shards` (all open): the
// decoded chunks and chunk caches of Note [Chunk cache] (reopening the datasets) and the direct
// reads of Note [Direct reads].
// Returns true when the filtered data does not fit the budget and is decoded block by block to
// be released (OpenOptions::release_over_budget).
bool configure_reads(std::vector<Shard>& shards, const DatasetInfo& info,
                     const OpenOptions& options);

// Bytes of decoded blocks held by Frost, over all objects of one dataset (under the HDF5 lock).
struct DecodedMemory {
  int64_t held = 0;
  int64_t peak = 0;
};

// One block of rows of a kDecoded object that a read needs decoded.
struct BlockToDecode {
  const Shard* shard;
  const RowSource* src;
  hid_t dset;
  const char* name;
  hid_t mem_type;
  int64_t block;
  bool operator<(const BlockToDecode& o) const {
    return std::tie(shard, src, block) < std::tie(o.shard, o.src, o.block);
  }
  bool operator==(const BlockToDecode& o) const {
    return shard == o.shard && src == o.src && block == o.block;
  }
};

// Decodes `blocks` (sorted) that are still missing: one H5Dread each, kept in their RowSource
// and published (Note [Chunk cache]). Takes the HDF5 lock itself: the caller must NOT hold it.
void decode_blocks(const std::vector<BlockToDecode>& blocks,
                   const std::vector<int64_t>& sample_shape, DecodedMemory& memory);

// Frees decoded block `block` of `src` if it is held (caller holds the HDF5 lock and knows that
// no other thread reads it).
void release_block(const RowSource& src, int64_t block, DecodedMemory& memory);

// Copies the shard-local `rows` of an in-memory object to `dst`, one after another.
void copy_rows(const RowSource& src, const std::vector<int64_t>& rows, uint8_t* dst);

// Describes one open dataset of a shard (H5Dataset::storage).
ObjectStorage describe_object(hid_t dset, const std::string& path, const char* object,
                              const RowSource& src);

}  // namespace frost::data::internal
