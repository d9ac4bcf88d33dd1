// Row access: how H5Dataset::read gets the rows of /inputs and /attention_mask (RowAccess).
//
//   Note [Reading runs]   kHdf5: one hyperslab H5Dread per run of consecutive rows (read_rows)
//   Note [Chunk cache]    filtered chunks: kept decoded by Frost (kDecoded: decode_blocks), or
//                         HDF5's chunk cache sized from the budget (reopen_with_chunk_cache)
//   Note [Direct reads]   unfiltered rows stored as read: copied from a mapping of the file
//                         (kMapped: direct_chunk_offsets, mappable_file)
//   configure_reads       decides, once per open dataset, how each object is read
//   describe_object       ObjectStorage for H5Dataset::storage()
//
// The read itself (which rows come from where, staging and scattering) is H5Dataset::read in
// h5_dataset.cpp. Every HDF5 call here runs under the HDF5 lock; decode_blocks takes it, the
// other functions expect the caller to hold it.
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "frost/core/error.h"
#include "frost/data/h5_shard.h"
#include "frost/data/h5_util.h"

namespace frost::data {
namespace internal {

// Note [Reading runs]
// -------------------
// Objects that are not read directly (Note [Direct reads]) go through H5Dread: read() groups
// the sorted rows of a batch into runs of consecutive rows and issues one H5Dread per run (a
// hyperslab of `run length` rows). Measured on Fashion-MNIST train.h5 (60000 x 1x28x28 uint8,
// chunks of 1024 rows, HDF5 1.10.8, page-cached, shuffled batches):
//                                            B=32      B=128     B=1024   (ms per batch)
//   one H5Dread, runs OR-ed (H5S_SELECT_OR)  1.3       5.1       50
//   one H5Dread per run                      0.06      0.21      1.7
//   one H5Dread per run + 4-chunk cache      1.6       3.3       4.7
// Building an OR-ed selection costs more than the reads it saves (HDF5's span trees), and a
// chunk cache that can hold a chunk makes HDF5 read the WHOLE chunk (1024 rows) to return one
// row. So for unfiltered (uncompressed) chunks the chunk cache is set to 0 bytes and HDF5 reads
// just the selected rows straight into our buffer. Filtered (compressed) chunks must be decoded
// whole anyway; their cache is sized by Note [Chunk cache]. Reading the rows in ascending order
// also means that all rows of one chunk are read one after another.
//
// Note [Chunk cache]
// ------------------
// A filtered (e.g. gzip-compressed) chunk can only be decoded whole, and shuffled batches touch
// rows all over the file:
//  * Within one batch the rows are read in ascending order (Note [Reading runs]), so keeping
//    one decoded chunk already decodes each chunk at most once per batch, not once per row.
//  * Across batches a shuffled epoch touches every chunk about min(chunk_rows, batches per
//    epoch) times: with HDF5's default cache (1 MiB) or a few chunks, shuffled batches of 64
//    from gzip-compressed Fashion-MNIST (59 chunks of 784 KiB) decoded ~40 chunks per batch.
//    Only keeping every chunk decodes each one once: once per open dataset, i.e. once per job
//    and rank, not once per epoch.
// Policy, with B = OpenOptions::chunk_cache_bytes (default 512 MiB) and D = the decoded size
// (num_chunks x chunk_bytes) of all filtered /inputs and /attention_mask of all shards:
//  * D <= B: every filtered object is kept decoded in memory by Frost (RowAccess::kDecoded).
//    The first read that needs a block of chunk_rows rows decodes it with one H5Dread (HDF5's
//    own chunk cache is 0 bytes, so nothing is held twice) and keeps it; read() then copies
//    rows from the decoded blocks as it copies them from a mapped file (Note [Direct reads]),
//    without an H5Dread per row (which costs ~4 us even when HDF5 has the chunk cached). Memory
//    grows to D as chunks are first read, and is freed when the dataset is closed.
//  * D > B: rows are read with H5Dread (RowAccess::kHdf5) and HDF5 caches decoded chunks, set
//    by H5Pset_chunk_cache(dapl, rdcc_nslots, rdcc_nbytes, rdcc_w0) (HDF5 reference manual):
//    each object gets rdcc_nbytes = its share of B in proportion to its decoded size, never
//    less than one chunk (so the first point holds; HDF5 does not cache at all a chunk larger
//    than rdcc_nbytes, and decodes it again for every H5Dread that touches it);
//    rdcc_nslots = the smallest prime >= 100 x the chunks that fit (the manual: a prime, "at
//    least 10 times the number of chunks that can fit in rdcc_nbytes", ideally 100 times), at
//    most max(10 x chunks, 2^20): HDF5 hashes a row-chunked dataset's chunk c to slot
//    c mod rdcc_nslots and evicts on a collision, so slots >= chunks means none; rdcc_w0 keeps
//    HDF5's default 0.75. Shuffled reads then decode chunks again and again as they are
//    evicted (a row read may cost a whole chunk): store such data uncompressed, with small
//    chunks, or raise B. This is the path of a global permutation (data.shuffle_mode = global).
//  * D > B and OpenOptions::release_over_budget: kDecoded as in the first point, but each
//    object's blocks are releasable: H5Dataset::release_blocks frees them, and BatchLoader
//    calls it after the last batch that needs a block (Note [Releasing decoded blocks] in
//    train/loader.h). With the block shuffle (Note [Block shuffle] in sampler.h) a rank decodes
//    each of its chunks once per epoch and holds only the blocks of one shuffle window, which
//    the window's size keeps within B.
// Unfiltered objects take no cache (rdcc_nbytes = 0, Note [Reading runs]): the page cache
// holds their file, and Note [Direct reads] copies rows from it.
constexpr int64_t kMinChunkCacheSlots = 521;  // HDF5's default rdcc_nslots
constexpr int64_t kChunkCacheSlotsCap = int64_t{1} << 20;
//
// Note [Direct reads]
// -------------------
// Even one H5Dread per run costs HDF5 bookkeeping (selection, chunk lookup, a pread) of a few
// microseconds per run, and the runs of a shuffled batch are nearly all one row long: for
// Fashion-MNIST's 784-byte rows that is ~20x the time of copying the row. An unfiltered object
// whose rows lie in the file exactly as read() returns them is therefore read without HDF5.
// Conditions, each checked at open(): contiguous layout without external files, or chunks
// spanning whole rows (chunk dims 1.. equal the dataset's) that are all allocated; file type
// equal to the memory type (no conversion); no user block; the sec2 (POSIX) file driver.
// open() then maps the file read-only (mmap of HDF5's own descriptor, MAP_SHARED) and records
// the file offset of every chunk (H5Dget_chunk_info_by_coord; H5Dget_offset when contiguous):
// row r of chunk c starts at offset[c] + (r - c * chunk_rows) * row_bytes, and read() memcpy's
// each row straight to its place in the output: no sorting, no staging buffer, no HDF5 call and
// no HDF5 lock (so threads read such objects in parallel). The mapping shares the page cache;
// no copy of the file is kept. open() compares the first and the last row of each object with
// what H5Dread returns and falls back to HDF5 on any doubt (a mismatch, a failed mmap, more
// than kMaxDirectChunks chunks). The price: if another process truncates the file while it is
// mapped, a read raises SIGBUS instead of an error; files are meant to be replaced, never
// rewritten in place, while a job reads them (Frost's writers rename a complete new file over
// the old one, which leaves an open mapping intact). ObjectStorage::access says how each object
// is read (RowAccess::kMapped here); OpenOptions::direct_reads = false turns this off.
constexpr int64_t kMaxDirectChunks = int64_t{1} << 20;

void FileMapping::reset() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

hid_t memory_type(InputKind kind) {
  switch (kind) {
    case InputKind::kImage: return H5T_NATIVE_UINT8;
    case InputKind::kFeatures: return H5T_NATIVE_FLOAT;
    case InputKind::kTokens: return H5T_NATIVE_INT32;
  }
  return H5T_NATIVE_UINT8;
}

// Reads rows[0..n) of `dset` (h5_shard.h): one H5Dread per run of consecutive rows. See
// Note [Reading runs] for why not one OR-ed selection.
void read_rows(hid_t dset, const char* name, const std::string& path, hid_t mem_type,
               const std::vector<int64_t>& sample_shape, const int64_t* rows, size_t n, void* dst) {
  H5Id fspace = space_id(H5_CHECK(H5Dget_space(dset), path, ": /", name));
  const size_t rank = sample_shape.size() + 1;
  std::vector<hsize_t> start(rank, 0), count(rank);
  size_t row_bytes = H5Tget_size(mem_type);
  for (size_t i = 1; i < rank; ++i) {
    count[i] = static_cast<hsize_t>(sample_shape[i - 1]);
    row_bytes *= static_cast<size_t>(count[i]);
  }
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && rows[j] == rows[j - 1] + 1) ++j;
    start[0] = static_cast<hsize_t>(rows[i]);
    count[0] = static_cast<hsize_t>(j - i);
    H5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                                 nullptr),
             path, ": selecting rows ", rows[i], "..", rows[j - 1], " of /", name);
    H5Id mspace = space_id(H5_CHECK(H5Screate_simple(static_cast<int>(rank), count.data(), nullptr),
                                    path, ": /", name));
    H5_CHECK(H5Dread(dset, mem_type, mspace.get(), fspace.get(), H5P_DEFAULT,
                     static_cast<uint8_t*>(dst) + i * row_bytes),
             path, ": reading rows ", rows[i], "..", rows[j - 1], " of /", name);
    i = j;
  }
}

namespace {

// Smallest prime >= n.
int64_t next_prime(int64_t n) {
  for (n = std::max<int64_t>(n, 2);; ++n) {
    bool prime = true;
    for (int64_t d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
    if (prime) return n;
  }
}

// The layout facts of one object that decide how it is read.
struct ObjectLayout {
  H5D_layout_t layout = H5D_LAYOUT_ERROR;
  bool filtered = false;
  std::vector<hsize_t> dims;
  std::vector<hsize_t> chunk;  // empty unless chunked
  int64_t chunk_bytes = 0;     // decoded bytes of one chunk; 0 unless chunked
  int64_t num_chunks = 0;      // along axis 0; 0 unless chunked
  int external_files = 0;
};

ObjectLayout object_layout(hid_t dset, const std::string& path, const char* name) {
  ObjectLayout lay;
  H5Id dcpl = plist_id(H5_CHECK(H5Dget_create_plist(dset), path, ": /", name));
  lay.layout = H5Pget_layout(dcpl.get());
  const std::vector<int64_t> dims = dataset_dims(dset, path, name);
  lay.dims.assign(dims.begin(), dims.end());
  lay.external_files = H5_CHECK(H5Pget_external_count(dcpl.get()), path, ": /", name);
  if (lay.layout == H5D_CHUNKED) {
    lay.chunk.resize(lay.dims.size());
    H5_CHECK(H5Pget_chunk(dcpl.get(), static_cast<int>(lay.chunk.size()), lay.chunk.data()), path,
             ": chunk shape of /", name);
    H5Id ftype = type_id(H5_CHECK(H5Dget_type(dset), path, ": /", name));
    lay.chunk_bytes = static_cast<int64_t>(H5Tget_size(ftype.get()));
    for (hsize_t c : lay.chunk) lay.chunk_bytes *= static_cast<int64_t>(c);
    const auto chunk_rows = static_cast<int64_t>(lay.chunk[0]);
    lay.num_chunks = (static_cast<int64_t>(lay.dims[0]) + chunk_rows - 1) / chunk_rows;
    lay.filtered = H5_CHECK(H5Pget_nfilters(dcpl.get()), path, ": /", name) > 0;
  }
  return lay;
}

// Reopens /`name` of `file` with a chunk cache of `cache_bytes` bytes and the slot count of
// Note [Chunk cache]. The old handle must be closed first: a second handle of an open dataset
// shares the first one's chunk cache, and HDF5 would ignore the new access properties.
H5Id reopen_with_chunk_cache(hid_t file, const char* name, const std::string& path,
                             int64_t cache_bytes, int64_t chunk_bytes) {
  const int64_t fit = chunk_bytes > 0 ? cache_bytes / chunk_bytes : 0;
  const int64_t slots = next_prime(
      std::max(kMinChunkCacheSlots, std::min(100 * fit, std::max(10 * fit, kChunkCacheSlotsCap))));
  H5Id dapl = plist_id(H5_CHECK(H5Pcreate(H5P_DATASET_ACCESS), path));
  H5_CHECK(H5Pset_chunk_cache(dapl.get(), static_cast<size_t>(slots),
                              static_cast<size_t>(cache_bytes), H5D_CHUNK_CACHE_W0_DEFAULT),
           path, ": chunk cache for /", name);
  return dataset_id(H5_CHECK(H5Dopen2(file, name, dapl.get()), path, ": opening /", name));
}

// The file offsets of the chunks of `dset` when it can be read directly (Note [Direct reads]),
// else empty. `file_size`: bytes in the file; every row must lie inside it. `row_bytes`: bytes
// of one row in memory.
std::vector<uint64_t> direct_chunk_offsets(hid_t dset, const ObjectLayout& lay, hid_t mem_type,
                                           size_t row_bytes, uint64_t file_size,
                                           int64_t* chunk_rows) {
  if (lay.filtered || lay.external_files != 0 || lay.dims.empty() || lay.dims[0] == 0) return {};
  {
    H5Id ftype = type_id(H5Dget_type(dset));
    if (!ftype.valid() || H5Tequal(ftype.get(), mem_type) <= 0) return {};
  }
  const auto rows = static_cast<int64_t>(lay.dims[0]);
  std::vector<uint64_t> offsets;
  if (lay.layout == H5D_CONTIGUOUS) {
    const haddr_t addr = H5Dget_offset(dset);
    if (addr == HADDR_UNDEF) return {};  // never written: HDF5 returns the fill value
    *chunk_rows = rows;
    offsets.push_back(addr);
  } else if (lay.layout == H5D_CHUNKED) {
    for (size_t i = 1; i < lay.dims.size(); ++i)
      if (lay.chunk[i] != lay.dims[i]) return {};  // a chunk holds parts of rows
    if (lay.num_chunks > kMaxDirectChunks) return {};
    *chunk_rows = static_cast<int64_t>(lay.chunk[0]);
    std::vector<hsize_t> coord(lay.dims.size(), 0);
    offsets.reserve(static_cast<size_t>(lay.num_chunks));
    for (int64_t c = 0; c < lay.num_chunks; ++c) {
      coord[0] = static_cast<hsize_t>(c * *chunk_rows);
      unsigned filter_mask = 0;
      haddr_t addr = HADDR_UNDEF;
      hsize_t size = 0;
      if (H5Dget_chunk_info_by_coord(dset, coord.data(), &filter_mask, &addr, &size) < 0) {
        H5Eclear2(H5E_DEFAULT);
        return {};
      }
      if (addr == HADDR_UNDEF) return {};  // an unwritten chunk: HDF5 returns fill values
      offsets.push_back(addr);
    }
  } else {
    return {};  // compact (in the object header) or virtual
  }
  for (size_t c = 0; c < offsets.size(); ++c) {
    const int64_t first = static_cast<int64_t>(c) * *chunk_rows;
    const auto n = static_cast<uint64_t>(std::min(*chunk_rows, rows - first));
    if (offsets[c] > file_size || n * row_bytes > file_size - offsets[c]) return {};
  }
  return offsets;
}

// HDF5's own descriptor of `file` and the file's size, when the file can be mapped: sec2
// driver, no user block (chunk addresses are then file offsets). Returns false otherwise.
bool mappable_file(hid_t file, int* fd, uint64_t* size) {
  H5Id fcpl = plist_id(H5Fget_create_plist(file));
  hsize_t userblock = 1;
  if (!fcpl.valid() || H5Pget_userblock(fcpl.get(), &userblock) < 0 || userblock != 0) return false;
  H5Id fapl = plist_id(H5Fget_access_plist(file));
  if (!fapl.valid() || H5Pget_driver(fapl.get()) != H5FD_SEC2) return false;
  void* handle = nullptr;
  if (H5Fget_vfd_handle(file, fapl.get(), &handle) < 0 || handle == nullptr) return false;
  *fd = *static_cast<int*>(handle);
  struct stat st {};
  if (::fstat(*fd, &st) != 0 || st.st_size <= 0) return false;
  *size = static_cast<uint64_t>(st.st_size);
  return true;
}

}  // namespace

// Sets up how read() reads every /inputs and /attention_mask: the decoded chunks and chunk
// caches of Note [Chunk cache] (reopening the datasets) and the direct reads of Note [Direct
// reads]. Caller holds the HDF5 lock.
bool configure_reads(std::vector<Shard>& shards, const DatasetInfo& info,
                     const OpenOptions& options) {
  struct Object {
    Shard* shard;
    const char* name;
    H5Id* dset;
    RowSource* rows;
    hid_t mem_type;
    ObjectLayout layout;
  };
  std::vector<Object> objects;
  for (Shard& shard : shards) {
    objects.push_back(
        {&shard, "inputs", &shard.inputs, &shard.inputs_rows, memory_type(info.input_kind), {}});
    if (shard.attention_mask.valid())
      objects.push_back({&shard,
                         "attention_mask",
                         &shard.attention_mask,
                         &shard.mask_rows,
                         H5T_NATIVE_UINT8,
                         {}});
  }
  int64_t filtered_bytes = 0;  // D: all decoded chunks of all filtered objects
  for (Object& o : objects) {
    o.layout = object_layout(o.dset->get(), o.shard->path, o.name);
    o.rows->rows = static_cast<int64_t>(o.layout.dims[0]);
    o.rows->row_bytes = H5Tget_size(o.mem_type);
    for (size_t i = 1; i < o.layout.dims.size(); ++i)
      o.rows->row_bytes *= static_cast<size_t>(o.layout.dims[i]);
    if (o.layout.filtered) filtered_bytes += o.layout.num_chunks * o.layout.chunk_bytes;
    if (o.rows == &o.shard->inputs_rows)
      o.shard->block_rows = o.layout.layout == H5D_CHUNKED
                                ? static_cast<int64_t>(o.layout.chunk[0])
                                : kBlockRowsUnchunked;
  }

  // Note [Chunk cache]
  const int64_t budget = std::max<int64_t>(options.chunk_cache_bytes, 0);
  const bool fits = filtered_bytes <= budget;
  const bool release = !fits && options.release_over_budget;
  const bool keep_decoded = fits || release;
  for (Object& o : objects) {
    if (o.layout.layout != H5D_CHUNKED) continue;
    int64_t cache_bytes = 0;  // unfiltered, or kept decoded by Frost
    o.rows->filtered = o.layout.filtered;
    if (o.layout.filtered && keep_decoded) {
      RowSource& src = *o.rows;
      src.access = RowAccess::kDecoded;
      src.releasable = release;
      src.chunk_rows = static_cast<int64_t>(o.layout.chunk[0]);
      const auto blocks = static_cast<size_t>(src.num_blocks());
      src.decoded.reset(new std::atomic<const uint8_t*>[blocks]);
      for (size_t c = 0; c < blocks; ++c) src.decoded[c].store(nullptr, std::memory_order_relaxed);
      src.decoded_blocks.resize(blocks);
    } else if (o.layout.filtered) {
      const int64_t decoded = o.layout.num_chunks * o.layout.chunk_bytes;
      const auto share = static_cast<int64_t>(static_cast<long double>(budget) * decoded /
                                              static_cast<long double>(filtered_bytes));
      cache_bytes = std::max(share, o.layout.chunk_bytes);
    }
    o.dset->reset();
    *o.dset = reopen_with_chunk_cache(o.shard->file.get(), o.name, o.shard->path, cache_bytes,
                                      o.layout.chunk_bytes);
  }

  // Note [Direct reads]
  if (!options.direct_reads) return release;
  for (Shard& shard : shards) {
    int fd = -1;
    uint64_t file_size = 0;
    if (!mappable_file(shard.file.get(), &fd, &file_size)) continue;
    std::vector<std::pair<Object*, std::vector<uint64_t>>> direct;
    for (Object& o : objects) {
      if (o.shard != &shard) continue;
      int64_t chunk_rows = 0;
      std::vector<uint64_t> offsets = direct_chunk_offsets(
          o.dset->get(), o.layout, o.mem_type, o.rows->row_bytes, file_size, &chunk_rows);
      if (offsets.empty()) continue;
      o.rows->chunk_rows = chunk_rows;
      direct.emplace_back(&o, std::move(offsets));
    }
    if (direct.empty()) continue;
    void* addr = ::mmap(nullptr, static_cast<size_t>(file_size), PROT_READ, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) continue;
    shard.mapping = FileMapping(static_cast<const uint8_t*>(addr), static_cast<size_t>(file_size));
    bool any = false;
    for (auto& [o, offsets] : direct) {
      RowSource& src = *o->rows;
      src.access = RowAccess::kMapped;
      for (uint64_t off : offsets) src.chunk_at.push_back(shard.mapping.data() + off);
      // Trust, but verify: the first and the last row as HDF5 reads them.
      const int64_t rows[2] = {0, src.rows - 1};
      const std::vector<int64_t> sample_shape(o->layout.dims.begin() + 1, o->layout.dims.end());
      std::vector<uint8_t> via_hdf5(2 * src.row_bytes);
      read_rows(o->dset->get(), o->name, shard.path, o->mem_type, sample_shape, rows, 2,
                via_hdf5.data());
      for (int k = 0; k < 2; ++k)
        if (std::memcmp(via_hdf5.data() + k * src.row_bytes, src.row(rows[k]), src.row_bytes) != 0)
          src.access = RowAccess::kHdf5;
      if (src.access != RowAccess::kMapped) src.chunk_at.clear();
      any = any || src.access == RowAccess::kMapped;
    }
    if (!any) shard.mapping.reset();
  }
  return release;
}

// Decodes `blocks` (sorted) that are still missing: one H5Dread each, kept in their RowSource
// and published (Note [Chunk cache]). Takes the HDF5 lock.
void decode_blocks(const std::vector<BlockToDecode>& blocks,
                   const std::vector<int64_t>& sample_shape, DecodedMemory& memory) {
  H5Lock lock;
  for (const BlockToDecode& b : blocks) {
    const RowSource& src = *b.src;
    const auto c = static_cast<size_t>(b.block);
    if (src.decoded[c].load(std::memory_order_relaxed) != nullptr) continue;  // another thread
    const int64_t first = b.block * src.chunk_rows;
    const int64_t n = std::min(src.chunk_rows, src.rows - first);
    std::vector<int64_t> rows(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) rows[static_cast<size_t>(k)] = first + k;
    auto buffer = std::make_unique<uint8_t[]>(static_cast<size_t>(n) * src.row_bytes);
    read_rows(b.dset, b.name, b.shard->path, b.mem_type, sample_shape, rows.data(), rows.size(),
              buffer.get());
    src.decoded[c].store(buffer.get(), std::memory_order_release);
    src.decoded_blocks[c] = std::move(buffer);
    memory.held += n * static_cast<int64_t>(src.row_bytes);
    memory.peak = std::max(memory.peak, memory.held);
  }
}

void release_block(const RowSource& src, int64_t block, DecodedMemory& memory) {
  const auto c = static_cast<size_t>(block);
  if (!src.decoded_blocks[c]) return;
  const int64_t n = std::min(src.chunk_rows, src.rows - block * src.chunk_rows);
  src.decoded[c].store(nullptr, std::memory_order_release);
  src.decoded_blocks[c].reset();
  memory.held -= n * static_cast<int64_t>(src.row_bytes);
}

// Copies the shard-local `rows` of an in-memory object to `dst`, one after another.
void copy_rows(const RowSource& src, const std::vector<int64_t>& rows, uint8_t* dst) {
  for (size_t k = 0; k < rows.size(); ++k)
    std::memcpy(dst + k * src.row_bytes, src.row(rows[k]), src.row_bytes);
}

// Describes one open dataset of a shard (caller holds the HDF5 lock).
ObjectStorage describe_object(hid_t dset, const std::string& path, const char* object,
                              const RowSource& src) {
  ObjectStorage st;
  st.path = path;
  st.object = object;
  st.access = src.access;
  H5Id dcpl = plist_id(H5_CHECK(H5Dget_create_plist(dset), path, ": ", object));
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  st.layout = layout == H5D_CHUNKED      ? "chunked"
              : layout == H5D_CONTIGUOUS ? "contiguous"
              : layout == H5D_COMPACT    ? "compact"
              : layout == H5D_VIRTUAL    ? "virtual"
                                         : "unknown";
  st.stored_bytes = static_cast<int64_t>(H5Dget_storage_size(dset));
  if (layout == H5D_CHUNKED) {
    H5Id space = space_id(H5_CHECK(H5Dget_space(dset), path, ": ", object));
    const int rank = H5_CHECK(H5Sget_simple_extent_ndims(space.get()), path, ": ", object);
    std::vector<hsize_t> dims(static_cast<size_t>(rank)), chunk(static_cast<size_t>(rank));
    H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), path, ": ", object);
    H5_CHECK(H5Pget_chunk(dcpl.get(), rank, chunk.data()), path, ": ", object);
    H5Id ftype = type_id(H5_CHECK(H5Dget_type(dset), path, ": ", object));
    st.chunk_bytes = static_cast<int64_t>(H5Tget_size(ftype.get()));
    for (hsize_t c : chunk) st.chunk_bytes *= static_cast<int64_t>(c);
    st.chunk_rows = static_cast<int64_t>(chunk[0]);
    st.num_chunks = (static_cast<int64_t>(dims[0]) + st.chunk_rows - 1) / st.chunk_rows;
    const int nfilters = H5_CHECK(H5Pget_nfilters(dcpl.get()), path, ": ", object);
    for (int i = 0; i < nfilters; ++i) {
      unsigned flags = 0, config = 0;
      size_t nvalues = 0;
      char name[64] = "";
      H5_CHECK(H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &nvalues, nullptr,
                              sizeof name, name, &config),
               path, ": filter ", i, " of ", object);
      st.filters.emplace_back(name[0] != '\0' ? name : "filter " + std::to_string(i));
    }
  }
  H5Id dapl = plist_id(H5_CHECK(H5Dget_access_plist(dset), path, ": ", object));
  size_t slots = 0, bytes = 0;
  double w0 = 0.0;
  H5_CHECK(H5Pget_chunk_cache(dapl.get(), &slots, &bytes, &w0), path, ": chunk cache of ", object);
  st.chunk_cache_bytes = static_cast<int64_t>(bytes);
  st.chunk_cache_slots = static_cast<int64_t>(slots);
  st.chunk_cache_w0 = w0;
  if (src.access == RowAccess::kDecoded) {
    st.decoded_bytes = static_cast<int64_t>(src.row_bytes) * src.rows;
    for (int64_t c = 0; c < src.num_blocks(); ++c)
      if (src.decoded[static_cast<size_t>(c)].load(std::memory_order_acquire) != nullptr)
        st.decoded_held_bytes += static_cast<int64_t>(src.row_bytes) *
                                 std::min(src.chunk_rows, src.rows - c * src.chunk_rows);
  }
  return st;
}

}  // namespace internal

const char* row_access_name(RowAccess access) {
  switch (access) {
    case RowAccess::kHdf5: return "H5Dread";
    case RowAccess::kMapped: return "mapped";
    case RowAccess::kDecoded: return "decoded";
  }
  return "unknown";
}

}  // namespace frost::data
