// HDF5 C API implementation of the Frost dataset schema. Every HDF5 call in this file runs
// under hdf5_mutex() (Note [HDF5 lock] in h5_dataset.h); functions in the anonymous namespace
// below expect the caller to hold it, the public entry points take it.
#include "frost/data/h5_dataset.h"

#include <fcntl.h>
#include <glob.h>
#include <hdf5.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "frost/core/error.h"
#include "frost/core/fs.h"

namespace frost::data {

// ---- DatasetInfo / InputKind ------------------------------------------------------------

InputKind parse_input_kind(const std::string& s) {
  if (s == "image") return InputKind::kImage;
  if (s == "features") return InputKind::kFeatures;
  if (s == "tokens") return InputKind::kTokens;
  throw Error("unknown input_kind '" + s + "'; expected one of: image, features, tokens");
}

const char* input_kind_name(InputKind k) {
  switch (k) {
    case InputKind::kImage: return "image";
    case InputKind::kFeatures: return "features";
    case InputKind::kTokens: return "tokens";
  }
  return "unknown";
}

int64_t DatasetInfo::sample_numel() const {
  int64_t n = 1;
  for (int64_t d : sample_shape) n *= d;
  return n;
}

int64_t DatasetInfo::element_bytes() const { return input_kind == InputKind::kImage ? 1 : 4; }

std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

namespace {

// ---- HDF5 plumbing -----------------------------------------------------------------------

// Holds hdf5_mutex() and, the first time, turns off HDF5's automatic printing of its error
// stack to stderr: H5_CHECK reports errors itself, and expected failures (probing) stay quiet.
class H5Lock {
 public:
  H5Lock() : lock_(hdf5_mutex()) {
    static bool silenced = false;
    if (!silenced) {
      H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
      silenced = true;
    }
  }

 private:
  std::lock_guard<std::mutex> lock_;
};

herr_t collect_error(unsigned n, const H5E_error2_t* err, void* client) {
  auto* out = static_cast<std::string*>(client);
  if (n >= 6) return 0;  // the innermost few say it all; deeper frames are library internals
  char minor[128] = "";
  H5Eget_msg(err->min_num, nullptr, minor, sizeof minor);
  if (!out->empty()) *out += " <- ";
  std::string desc = (err->desc != nullptr && err->desc[0] != '\0') ? err->desc : minor;
  std::replace(desc.begin(), desc.end(), '\n', ' ');
  *out += desc;
  if (minor[0] != '\0' && err->desc != nullptr && std::strstr(err->desc, minor) == nullptr) {
    *out += " (";
    *out += minor;
    *out += ")";
  }
  return 0;
}

// The current HDF5 error stack as one line, innermost (the actual cause) first; then clears it.
std::string hdf5_error_text() {
  std::string text;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_error, &text);
  H5Eclear2(H5E_DEFAULT);
  return text.empty() ? "no HDF5 error message" : text;
}

const char* short_file(const char* file) {
  const char* s = std::strstr(file, "src/frost/");
  return s != nullptr ? s : file;
}

template <typename T, typename Context>
T h5_check(T ret, const char* call, const char* file, int line, Context&& context) {
  if (ret < 0) {
    throw Error(detail::str_cat(context(), ": HDF5 call ", call, " failed at ", short_file(file),
                                ":", line, ": ", hdf5_error_text()));
  }
  return ret;
}

}  // namespace
}  // namespace frost::data

// H5_CHECK(call, context...): runs an HDF5 call (caller holds hdf5_mutex()); on a negative
// return throws frost::Error "<context>: HDF5 call <call> failed at <file>:<line>: <HDF5's
// own error stack>". The context names the file and dataset, for the user.
#define H5_CHECK(call, ...)                                              \
  ::frost::data::h5_check((call), #call, __FILE__, __LINE__,            \
                          [&] { return ::frost::detail::str_cat(__VA_ARGS__); })

namespace frost::data {
namespace {

// Owns an HDF5 identifier. The destructor closes it without checking, and must run while
// hdf5_mutex() is held (every H5Id lives inside a locked scope or inside H5Dataset::Impl,
// whose destructor takes the lock).
class H5Id {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Id() = default;
  H5Id(hid_t id, Closer close) : id_(id), close_(close) {}
  H5Id(H5Id&& o) noexcept : id_(std::exchange(o.id_, -1)), close_(o.close_) {}
  H5Id& operator=(H5Id&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, -1);
      close_ = o.close_;
    }
    return *this;
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  ~H5Id() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = -1;
  }
  // Closes and reports failure (for the file being written, where a failed close loses data).
  herr_t close() {
    const herr_t rc = (id_ >= 0 && close_ != nullptr) ? close_(id_) : 0;
    id_ = -1;
    return rc;
  }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

H5Id file_id(hid_t id) { return {id, H5Fclose}; }
H5Id dataset_id(hid_t id) { return {id, H5Dclose}; }
H5Id space_id(hid_t id) { return {id, H5Sclose}; }
H5Id type_id(hid_t id) { return {id, H5Tclose}; }
H5Id attr_id(hid_t id) { return {id, H5Aclose}; }
H5Id plist_id(hid_t id) { return {id, H5Pclose}; }
H5Id object_id(hid_t id) { return {id, H5Oclose}; }

// File access properties for every file Frost opens or creates. File locking stays on, but a
// file system without lock support (some Lustre/GPFS mounts, where HDF5 1.10 otherwise fails
// with "unable to lock file") is tolerated, as HDF5_USE_FILE_LOCKING=BEST_EFFORT would do.
H5Id make_fapl(const std::string& where) {
  H5Id fapl = plist_id(H5_CHECK(H5Pcreate(H5P_FILE_ACCESS), where));
#if H5_VERSION_GE(1, 10, 7)
  H5_CHECK(H5Pset_file_locking(fapl.get(), /*use_file_locking=*/true,
                               /*ignore_when_disabled=*/true),
           where);
#endif
  return fapl;
}

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
//    chunks, or raise B.
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

// HDF5 limits one chunk to 4 GiB; stay well below.
constexpr int64_t kMaxChunkBytes = int64_t{1} << 30;

std::string shape_str(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

std::string values_str(const std::vector<double>& v) {
  std::ostringstream os;
  os.precision(17);
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << "]";
  return os.str();
}

// A short dtype name for messages, e.g. "uint8", "float64", "string".
std::string dtype_name(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  switch (cls) {
    case H5T_INTEGER:
      return std::string(H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") +
             std::to_string(size * 8);
    case H5T_FLOAT: return "float" + std::to_string(size * 8);
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_ARRAY: return "array";
    case H5T_VLEN: return "vlen";
    default: return "non-numeric";
  }
}

// ---- attributes --------------------------------------------------------------------------

void write_string_attr(hid_t loc, const char* name, const std::string& value,
                       const std::string& where) {
  H5Id type = type_id(H5_CHECK(H5Tcopy(H5T_C_S1), where));
  H5_CHECK(H5Tset_size(type.get(), H5T_VARIABLE), where);
  H5_CHECK(H5Tset_cset(type.get(), H5T_CSET_UTF8), where);
  H5Id space = space_id(H5_CHECK(H5Screate(H5S_SCALAR), where));
  H5Id attr = attr_id(H5_CHECK(H5Acreate2(loc, name, type.get(), space.get(), H5P_DEFAULT,
                                          H5P_DEFAULT),
                               where, ": creating attribute ", name));
  const char* data = value.c_str();
  H5_CHECK(H5Awrite(attr.get(), type.get(), &data), where, ": writing attribute ", name);
}

void write_int64_attr(hid_t loc, const char* name, const int64_t* values, hsize_t n, bool scalar,
                      const std::string& where) {
  H5Id space = space_id(scalar ? H5_CHECK(H5Screate(H5S_SCALAR), where)
                               : H5_CHECK(H5Screate_simple(1, &n, nullptr), where));
  H5Id attr = attr_id(H5_CHECK(H5Acreate2(loc, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT,
                                          H5P_DEFAULT),
                               where, ": creating attribute ", name));
  H5_CHECK(H5Awrite(attr.get(), H5T_NATIVE_INT64, values), where, ": writing attribute ", name);
}

void write_double_array_attr(hid_t loc, const char* name, const std::vector<double>& values,
                             const std::string& where) {
  const hsize_t n = values.size();
  H5Id space = space_id(H5_CHECK(H5Screate_simple(1, &n, nullptr), where));
  H5Id attr = attr_id(H5_CHECK(H5Acreate2(loc, name, H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                                          H5P_DEFAULT),
                               where, ": creating attribute ", name));
  H5_CHECK(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, values.data()), where,
           ": writing attribute ", name);
}

bool has_attr(hid_t loc, const char* name, const std::string& path) {
  return H5_CHECK(H5Aexists(loc, name), path, ": looking for root attribute ", name) > 0;
}

// Opens attribute `name` and returns it with its number of elements.
H5Id open_attr(hid_t loc, const char* name, const std::string& path, hssize_t* npoints) {
  H5Id attr = attr_id(H5_CHECK(H5Aopen(loc, name, H5P_DEFAULT), path, ": opening attribute ",
                               name));
  H5Id space = space_id(H5_CHECK(H5Aget_space(attr.get()), path, ": attribute ", name));
  *npoints = H5_CHECK(H5Sget_simple_extent_npoints(space.get()), path, ": attribute ", name);
  return attr;
}

std::string read_string_attr(hid_t loc, const char* name, const std::string& path) {
  hssize_t npoints = 0;
  H5Id attr = open_attr(loc, name, path, &npoints);
  H5Id ftype = type_id(H5_CHECK(H5Aget_type(attr.get()), path, ": attribute ", name));
  FROST_CHECK(H5Tget_class(ftype.get()) == H5T_STRING && npoints == 1, path,
              ": root attribute '", name, "' must be a single string, found ", npoints,
              " value(s) of type ", dtype_name(ftype.get()));
  H5Id mtype = type_id(H5_CHECK(H5Tcopy(H5T_C_S1), path));
  H5_CHECK(H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get())), path);
  if (H5_CHECK(H5Tis_variable_str(ftype.get()), path) > 0) {
    H5_CHECK(H5Tset_size(mtype.get(), H5T_VARIABLE), path);
    char* data = nullptr;
    H5_CHECK(H5Aread(attr.get(), mtype.get(), &data), path, ": reading attribute ", name);
    std::string s = data != nullptr ? data : "";
    H5free_memory(data);
    return s;
  }
  // Fixed length: the memory type is NUL-terminated, so it needs one byte more than the file
  // type (which h5py writes NUL-padded, without a terminator when the text fills it).
  const size_t size = H5Tget_size(ftype.get()) + 1;
  H5_CHECK(H5Tset_size(mtype.get(), size), path);
  std::string s(size, '\0');
  H5_CHECK(H5Aread(attr.get(), mtype.get(), s.data()), path, ": reading attribute ", name);
  s.resize(std::strlen(s.c_str()));  // fixed-length strings are NUL- or space-padded
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

int64_t read_int_attr(hid_t loc, const char* name, const std::string& path) {
  hssize_t npoints = 0;
  H5Id attr = open_attr(loc, name, path, &npoints);
  H5Id ftype = type_id(H5_CHECK(H5Aget_type(attr.get()), path, ": attribute ", name));
  FROST_CHECK(H5Tget_class(ftype.get()) == H5T_INTEGER && npoints == 1, path,
              ": root attribute '", name, "' must be a single integer, found ", npoints,
              " value(s) of type ", dtype_name(ftype.get()));
  int64_t v = 0;
  H5_CHECK(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), path, ": reading attribute ", name);
  return v;
}

std::vector<double> read_double_array_attr(hid_t loc, const char* name,
                                           const std::string& path) {
  hssize_t npoints = 0;
  H5Id attr = open_attr(loc, name, path, &npoints);
  H5Id ftype = type_id(H5_CHECK(H5Aget_type(attr.get()), path, ": attribute ", name));
  const H5T_class_t cls = H5Tget_class(ftype.get());
  FROST_CHECK(cls == H5T_FLOAT || cls == H5T_INTEGER, path, ": root attribute '", name,
              "' must hold numbers, found type ", dtype_name(ftype.get()));
  std::vector<double> v(static_cast<size_t>(npoints));
  if (!v.empty())
    H5_CHECK(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, v.data()), path, ": reading attribute ",
             name);
  return v;
}

// ---- writing -------------------------------------------------------------------------------

// Creates dataset `name` [N, row_dims...] chunked along axis 0 and writes `data` (all N rows).
void write_rows(hid_t file, const char* name, hid_t file_type, hid_t mem_type,
                const std::vector<int64_t>& row_dims, int64_t n, int64_t chunk_rows,
                const void* data, const std::string& where) {
  std::vector<hsize_t> dims{static_cast<hsize_t>(n)};
  for (int64_t d : row_dims) dims.push_back(static_cast<hsize_t>(d));
  std::vector<hsize_t> chunk = dims;
  chunk[0] = static_cast<hsize_t>(std::min(chunk_rows, n));
  H5Id space = space_id(H5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(),
                                                  nullptr),
                                 where, ": dataspace of /", name));
  H5Id dcpl = plist_id(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE), where));
  H5_CHECK(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()), where,
           ": chunking /", name);
  H5_CHECK(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), where);
  H5Id dset = dataset_id(H5_CHECK(H5Dcreate2(file, name, file_type, space.get(), H5P_DEFAULT,
                                             dcpl.get(), H5P_DEFAULT),
                                  where, ": creating /", name));
  H5_CHECK(H5Dwrite(dset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), where,
           ": writing /", name);
}

void validate_for_write(const std::string& path, const DatasetInfo& info, const void* inputs,
                        const int64_t* labels, const WriteOptions& opt) {
  const std::string w = "write_dataset('" + path + "')";
  FROST_CHECK(!path.empty(), "write_dataset: the output path is empty");
  FROST_CHECK(inputs != nullptr && labels != nullptr, w, ": inputs and labels must not be null");
  FROST_CHECK(info.num_samples >= 1, w, ": a dataset needs at least one sample, got N = ",
              info.num_samples);
  FROST_CHECK(info.num_classes >= 1, w, ": num_classes must be >= 1, got ", info.num_classes);
  FROST_CHECK(opt.chunk_rows >= 1, w, ": chunk_rows must be >= 1, got ", opt.chunk_rows);
  FROST_CHECK(!info.sample_shape.empty(), w, ": sample_shape is empty");
  for (int64_t d : info.sample_shape)
    FROST_CHECK(d >= 1, w, ": every sample dimension must be >= 1, got sample_shape ",
                shape_str(info.sample_shape));
  const int64_t row_bytes = info.sample_numel() * info.element_bytes();
  FROST_CHECK(std::min(opt.chunk_rows, info.num_samples) * row_bytes <= kMaxChunkBytes, w,
              ": a chunk of ", std::min(opt.chunk_rows, info.num_samples), " rows x ", row_bytes,
              " bytes exceeds ", kMaxChunkBytes, " bytes; lower chunk_rows");
  switch (info.input_kind) {
    case InputKind::kImage: {
      FROST_CHECK(info.sample_shape.size() == 3, w, ": images need sample_shape [C, H, W], got ",
                  shape_str(info.sample_shape));
      const auto channels = static_cast<size_t>(info.sample_shape[0]);
      FROST_CHECK(info.mean.size() == channels && info.std.size() == channels, w,
                  ": images need one mean and one std per channel (", channels, "), got ",
                  info.mean.size(), " and ", info.std.size());
      for (size_t c = 0; c < channels; ++c)
        FROST_CHECK(std::isfinite(info.mean[c]) && std::isfinite(info.std[c]) && info.std[c] > 0,
                    w, ": channel ", c, " has mean ", info.mean[c], ", std ", info.std[c],
                    "; std must be finite and > 0");
      break;
    }
    case InputKind::kTokens:
      FROST_CHECK(info.sample_shape.size() == 1, w, ": tokens need sample_shape [L], got ",
                  shape_str(info.sample_shape));
      break;
    case InputKind::kFeatures: break;
  }
  FROST_CHECK(!info.has_attention_mask || info.input_kind == InputKind::kTokens, w,
              ": /attention_mask is only for input_kind tokens");
  FROST_CHECK(info.has_attention_mask == (opt.attention_mask != nullptr), w,
              ": info.has_attention_mask is ", info.has_attention_mask,
              " but an attention mask was ", opt.attention_mask ? "" : "not ", "given");
  for (int64_t i = 0; i < info.num_samples; ++i)
    FROST_CHECK(labels[i] >= 0 && labels[i] < info.num_classes, w, ": labels[", i, "] = ",
                labels[i], " is outside [0, ", info.num_classes, ") (num_classes)");
  static const std::set<std::string> kReserved = {"frost_schema", "task", "num_classes",
                                                  "input_kind", "mean", "std"};
  for (const auto& [name, values] : opt.int64_attributes) {
    FROST_CHECK(!name.empty() && kReserved.count(name) == 0, w, ": attribute name '", name,
                "' is empty or reserved by the schema");
    FROST_CHECK(!values.empty(), w, ": attribute '", name, "' has no values");
  }
  for (const auto& [name, value] : opt.string_attributes) {
    FROST_CHECK(!name.empty() && kReserved.count(name) == 0, w, ": attribute name '", name,
                "' is empty or reserved by the schema");
    FROST_CHECK(opt.int64_attributes.count(name) == 0, w, ": attribute '", name,
                "' is given both as int64 and as string");
  }
}

}  // namespace

// ---- write_dataset ---------------------------------------------------------------------------

void write_dataset(const std::string& path, const DatasetInfo& info, const void* inputs,
                   const int64_t* labels, int64_t chunk_rows) {
  WriteOptions options;
  options.chunk_rows = chunk_rows;
  write_dataset(path, info, inputs, labels, options);
}

void write_dataset(const std::string& path, const DatasetInfo& info, const void* inputs,
                   const int64_t* labels, const WriteOptions& options) {
  validate_for_write(path, info, inputs, labels, options);
  const std::string tmp = fs::temp_path_for(path);
  const std::string where = "writing dataset '" + path + "' (temporary file '" + tmp + "')";
  const int64_t n = info.num_samples;
  try {
    {
      H5Lock lock;  // declared first: the handles below close while it is still held
      H5Id fapl = make_fapl(where);
      // STRONG: H5Fclose closes every object still open, so the file is complete on disk.
      H5_CHECK(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), where);
      H5Id file = file_id(H5_CHECK(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()),
                                   where, ": creating the file"));
      hid_t file_type = H5T_STD_U8LE, mem_type = H5T_NATIVE_UINT8;
      if (info.input_kind == InputKind::kFeatures) {
        file_type = H5T_IEEE_F32LE;
        mem_type = H5T_NATIVE_FLOAT;
      } else if (info.input_kind == InputKind::kTokens) {
        file_type = H5T_STD_I32LE;
        mem_type = H5T_NATIVE_INT32;
      }
      write_rows(file.get(), "inputs", file_type, mem_type, info.sample_shape, n,
                 options.chunk_rows, inputs, where);
      write_rows(file.get(), "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, {}, n,
                 options.chunk_rows, labels, where);
      if (info.has_attention_mask)
        write_rows(file.get(), "attention_mask", H5T_STD_U8LE, H5T_NATIVE_UINT8,
                   info.sample_shape, n, options.chunk_rows, options.attention_mask, where);

      const hid_t root = file.get();
      const int64_t schema = kFrostSchemaVersion;
      write_int64_attr(root, "frost_schema", &schema, 1, /*scalar=*/true, where);
      write_string_attr(root, "task", info.task, where);
      write_int64_attr(root, "num_classes", &info.num_classes, 1, /*scalar=*/true, where);
      write_string_attr(root, "input_kind", input_kind_name(info.input_kind), where);
      if (info.input_kind == InputKind::kImage) {
        write_double_array_attr(root, "mean", info.mean, where);
        write_double_array_attr(root, "std", info.std, where);
      }
      for (const auto& [name, values] : options.int64_attributes)
        write_int64_attr(root, name.c_str(), values.data(), values.size(), /*scalar=*/false,
                         where);
      for (const auto& [name, value] : options.string_attributes)
        write_string_attr(root, name.c_str(), value, where);
      H5_CHECK(file.close(), where, ": closing the file");
    }
  } catch (...) {
    std::remove(tmp.c_str());  // nothing partial is left behind; `path` was never touched
    throw;
  }
  // fsync, rename over `path`, fsync the directory; removes `tmp` itself if that fails.
  fs::commit_temp_file(tmp, path);
}

// ---- expand_paths -------------------------------------------------------------------------

std::vector<std::string> expand_paths(const std::vector<std::string>& paths) {
  FROST_CHECK(!paths.empty(), "no dataset path given; pass a file or a glob such as "
                              "'data/train-*.h5'");
  std::vector<std::string> out;
  for (const std::string& p : paths) {
    FROST_CHECK(!p.empty(), "an empty dataset path was given");
    if (p.find_first_of("*?[") == std::string::npos) {
      out.push_back(p);
      continue;
    }
    glob_t g{};
    const int rc = ::glob(p.c_str(), GLOB_ERR, nullptr, &g);
    std::vector<std::string> matches;
    if (rc == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    FROST_CHECK(rc != GLOB_NOMATCH, "dataset pattern '", p,
                "' matches no file; check the directory and the pattern");
    FROST_CHECK(rc == 0, "dataset pattern '", p, "': glob failed (",
                rc == GLOB_ABORTED ? "a directory could not be read" : "out of memory", ")");
    std::sort(matches.begin(), matches.end());  // byte order, independent of the locale
    out.insert(out.end(), matches.begin(), matches.end());
  }
  std::set<std::string> seen;
  for (const std::string& p : out)
    FROST_CHECK(seen.insert(p).second, "dataset file '", p,
                "' is listed more than once (directly or through a glob); its samples would "
                "be counted twice");
  return out;
}

// ---- H5Dataset -----------------------------------------------------------------------------

namespace {

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
  void reset() {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
  }

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

  bool in_memory() const { return access != RowAccess::kHdf5; }
  int64_t num_blocks() const { return (rows + chunk_rows - 1) / chunk_rows; }
  // Row r; kMapped, or kDecoded with r's block decoded.
  const uint8_t* row(int64_t r) const {
    const auto c = static_cast<size_t>(r / chunk_rows);
    const uint8_t* base = access == RowAccess::kMapped
                              ? chunk_at[c]
                              : decoded[c].load(std::memory_order_acquire);
    return base + static_cast<size_t>(r % chunk_rows) * row_bytes;
  }
};

struct Shard {
  std::string path;
  int64_t first_row = 0;  // global index of this shard's row 0
  int64_t rows = 0;
  H5Id file;
  H5Id inputs;
  H5Id attention_mask;  // invalid when the dataset has none
  FileMapping mapping;  // the whole file, when an object below is kMapped
  RowSource inputs_rows, mask_rows;
};

// Opens dataset `name`, which must exist and be a dataset, with default access properties
// (configure_reads() reopens /inputs and /attention_mask with their chunk cache).
H5Id open_dataset(hid_t file, const char* name, const std::string& path) {
  const htri_t exists = H5_CHECK(H5Lexists(file, name, H5P_DEFAULT), path, ": looking for /",
                                 name);
  FROST_CHECK(exists > 0, path, ": dataset /", name,
              " is missing; a Frost dataset needs /inputs and /labels (see docs/data.md); "
              "write it with frost-prep or write_dataset");
  {
    H5Id obj = object_id(H5_CHECK(H5Oopen(file, name, H5P_DEFAULT), path, ": opening /", name));
    FROST_CHECK(H5Iget_type(obj.get()) == H5I_DATASET, path, ": /", name,
                " is not a dataset (a group or a named type?)");
  }
  return dataset_id(H5_CHECK(H5Dopen2(file, name, H5P_DEFAULT), path, ": opening /", name));
}

std::vector<int64_t> dataset_dims(hid_t dset, const std::string& path, const char* name) {
  H5Id space = space_id(H5_CHECK(H5Dget_space(dset), path, ": /", name));
  const int rank = H5_CHECK(H5Sget_simple_extent_ndims(space.get()), path, ": /", name);
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), path, ": /", name);
  return {dims.begin(), dims.end()};
}

// Opens and validates one shard file; fills `shard` and `labels_out` (appended), returns the
// shard's schema (num_samples = its rows).
DatasetInfo open_shard(const std::string& path, Shard& shard, std::vector<int64_t>& labels_out) {
  struct stat st {};
  FROST_CHECK(::stat(path.c_str(), &st) == 0, path, ": cannot open dataset file: ",
              std::strerror(errno), "; check the path");
  FROST_CHECK(S_ISREG(st.st_mode), path, ": is not a regular file (a directory?)");
  FROST_CHECK(::access(path.c_str(), R_OK) == 0, path, ": cannot read dataset file: ",
              std::strerror(errno));
  const htri_t is_h5 = H5_CHECK(H5Fis_hdf5(path.c_str()), path, ": checking the file format");
  FROST_CHECK(is_h5 > 0, path, ": is not an HDF5 file (no HDF5 signature); expected a Frost "
                               "dataset written by frost-prep or write_dataset");
  shard.path = path;
  H5Id fapl = make_fapl(path);
  shard.file = file_id(H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), path,
                                ": opening the file"));
  const hid_t root = shard.file.get();

  DatasetInfo info;
  FROST_CHECK(has_attr(root, "frost_schema", path), path,
              ": root attribute frost_schema is missing, so this is not a Frost dataset; "
              "write it with frost-prep or write_dataset (see docs/data.md)");
  const int64_t schema = read_int_attr(root, "frost_schema", path);
  FROST_CHECK(schema == kFrostSchemaVersion, path, ": frost_schema = ", schema,
              " but this Frost reads schema version ", kFrostSchemaVersion,
              "; re-create the file with this version's frost-prep");
  FROST_CHECK(has_attr(root, "input_kind", path), path,
              ": root attribute input_kind (image | features | tokens) is missing");
  const std::string kind = read_string_attr(root, "input_kind", path);
  try {
    info.input_kind = parse_input_kind(kind);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what() + " (root attribute input_kind)");
  }
  FROST_CHECK(has_attr(root, "num_classes", path), path,
              ": root attribute num_classes is missing");
  info.num_classes = read_int_attr(root, "num_classes", path);
  FROST_CHECK(info.num_classes >= 1, path, ": num_classes = ", info.num_classes,
              " but must be >= 1");
  if (has_attr(root, "task", path)) info.task = read_string_attr(root, "task", path);

  // /inputs: dtype class and rank by input kind.
  shard.inputs = open_dataset(root, "inputs", path);
  {
    H5Id ftype = type_id(H5_CHECK(H5Dget_type(shard.inputs.get()), path, ": /inputs"));
    const H5T_class_t cls = H5Tget_class(ftype.get());
    const std::string found = dtype_name(ftype.get());
    switch (info.input_kind) {
      case InputKind::kImage:
        FROST_CHECK(cls == H5T_INTEGER && H5Tget_size(ftype.get()) == 1 &&
                        H5Tget_sign(ftype.get()) == H5T_SGN_NONE,
                    path, ": /inputs has dtype ", found,
                    " but input_kind 'image' needs uint8 pixels in [0, 255]");
        break;
      case InputKind::kFeatures:
        FROST_CHECK(cls == H5T_FLOAT, path, ": /inputs has dtype ", found,
                    " but input_kind 'features' needs a float dtype (float32 preferred)");
        break;
      case InputKind::kTokens:
        FROST_CHECK(cls == H5T_INTEGER && H5Tget_size(ftype.get()) <= 4, path,
                    ": /inputs has dtype ", found,
                    " but input_kind 'tokens' needs integer token ids of at most 32 bits");
        break;
    }
  }
  const std::vector<int64_t> in_dims = dataset_dims(shard.inputs.get(), path, "inputs");
  const size_t want_rank = info.input_kind == InputKind::kImage    ? 4
                           : info.input_kind == InputKind::kTokens ? 2
                                                                   : 0;
  FROST_CHECK(want_rank == 0 ? in_dims.size() >= 2 : in_dims.size() == want_rank, path,
              ": /inputs has shape ", shape_str(in_dims), " but input_kind '", kind, "' needs ",
              info.input_kind == InputKind::kImage    ? "[N, C, H, W]"
              : info.input_kind == InputKind::kTokens ? "[N, L]"
                                                      : "[N, D...] (rank >= 2)");
  info.num_samples = in_dims[0];
  info.sample_shape.assign(in_dims.begin() + 1, in_dims.end());
  FROST_CHECK(info.num_samples >= 1, path, ": /inputs has no rows (N = 0)");
  for (int64_t d : info.sample_shape)
    FROST_CHECK(d >= 1, path, ": /inputs has an empty sample dimension: shape ",
                shape_str(in_dims));

  // /labels: integer [N], all in [0, num_classes).
  {
    H5Id labels = open_dataset(root, "labels", path);
    H5Id ftype = type_id(H5_CHECK(H5Dget_type(labels.get()), path, ": /labels"));
    FROST_CHECK(H5Tget_class(ftype.get()) == H5T_INTEGER, path, ": /labels has dtype ",
                dtype_name(ftype.get()), " but class indices must be integers (int64)");
    const std::vector<int64_t> dims = dataset_dims(labels.get(), path, "labels");
    FROST_CHECK(dims.size() == 1, path, ": /labels has shape ", shape_str(dims),
                " but must be [N]");
    FROST_CHECK(dims[0] == info.num_samples, path, ": /labels has ", dims[0],
                " rows but /inputs has ", info.num_samples, "; they must match row for row");
    const size_t base = labels_out.size();
    labels_out.resize(base + static_cast<size_t>(info.num_samples));
    H5_CHECK(H5Dread(labels.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                     labels_out.data() + base),
             path, ": reading /labels");
    for (int64_t i = 0; i < info.num_samples; ++i) {
      const int64_t y = labels_out[base + static_cast<size_t>(i)];
      FROST_CHECK(y >= 0 && y < info.num_classes, path, ": /labels[", i, "] = ", y,
                  " is outside [0, ", info.num_classes, ") (num_classes attribute)");
    }
  }

  // /attention_mask (optional, tokens only): integer [N, L].
  const htri_t has_mask = H5_CHECK(H5Lexists(root, "attention_mask", H5P_DEFAULT), path,
                                   ": looking for /attention_mask");
  if (has_mask > 0) {
    FROST_CHECK(info.input_kind == InputKind::kTokens, path,
                ": /attention_mask is present but input_kind is '", kind,
                "'; masks are only for tokens");
    shard.attention_mask = open_dataset(root, "attention_mask", path);
    H5Id ftype = type_id(H5_CHECK(H5Dget_type(shard.attention_mask.get()), path,
                                  ": /attention_mask"));
    FROST_CHECK(H5Tget_class(ftype.get()) == H5T_INTEGER, path, ": /attention_mask has dtype ",
                dtype_name(ftype.get()), " but must be an integer type (uint8)");
    const std::vector<int64_t> dims = dataset_dims(shard.attention_mask.get(), path,
                                                   "attention_mask");
    FROST_CHECK(dims == in_dims, path, ": /attention_mask has shape ", shape_str(dims),
                " but /inputs has ", shape_str(in_dims), "; they must match");
    info.has_attention_mask = true;
  }

  // mean / std (images).
  if (info.input_kind == InputKind::kImage) {
    FROST_CHECK(has_attr(root, "mean", path) && has_attr(root, "std", path), path,
                ": root attributes mean and std (one per channel, in [0, 1] pixel units) are "
                "required for images; frost-prep writes them");
    info.mean = read_double_array_attr(root, "mean", path);
    info.std = read_double_array_attr(root, "std", path);
    const auto channels = static_cast<size_t>(info.sample_shape[0]);
    FROST_CHECK(info.mean.size() == channels && info.std.size() == channels, path, ": mean has ",
                info.mean.size(), " and std ", info.std.size(), " values but the images have ",
                channels, " channel(s); there must be one per channel");
    for (size_t c = 0; c < channels; ++c)
      FROST_CHECK(std::isfinite(info.mean[c]) && std::isfinite(info.std[c]) && info.std[c] > 0,
                  path, ": channel ", c, " has mean ", info.mean[c], " and std ", info.std[c],
                  "; std must be finite and > 0");
  }
  shard.rows = info.num_samples;
  return info;
}

// Throws when shard `b` disagrees with shard `a` on the schema (Horovod-style message).
void check_same_schema(const DatasetInfo& a, const std::string& path_a, const DatasetInfo& b,
                       const std::string& path_b) {
  auto fail = [&](const char* what, const std::string& va, const std::string& vb) {
    throw Error(detail::str_cat("dataset shards disagree on ", what, ": '", path_a, "' has ", va,
                                " but '", path_b, "' has ", vb,
                                "; all shard files of one dataset must share the schema"));
  };
  if (a.input_kind != b.input_kind)
    fail("input_kind", input_kind_name(a.input_kind), input_kind_name(b.input_kind));
  if (a.sample_shape != b.sample_shape)
    fail("the sample shape", shape_str(a.sample_shape), shape_str(b.sample_shape));
  if (a.num_classes != b.num_classes)
    fail("num_classes", std::to_string(a.num_classes), std::to_string(b.num_classes));
  if (a.task != b.task) fail("task", a.task, b.task);
  if (a.mean != b.mean) fail("mean", values_str(a.mean), values_str(b.mean));
  if (a.std != b.std) fail("std", values_str(a.std), values_str(b.std));
  if (a.has_attention_mask != b.has_attention_mask)
    fail("/attention_mask", a.has_attention_mask ? "one" : "none",
         b.has_attention_mask ? "one" : "none");
}

hid_t memory_type(InputKind kind) {
  switch (kind) {
    case InputKind::kImage: return H5T_NATIVE_UINT8;
    case InputKind::kFeatures: return H5T_NATIVE_FLOAT;
    case InputKind::kTokens: return H5T_NATIVE_INT32;
  }
  return H5T_NATIVE_UINT8;
}

// Reads rows[0..n) (ascending, unique, local to the shard) of `dset` into `dst`
// (n * row_numel elements of `mem_type`, in the same order): one H5Dread per run of
// consecutive rows. See Note [Reading runs] for why not one OR-ed selection.
void read_rows(hid_t dset, const char* name, const std::string& path, hid_t mem_type,
               const std::vector<int64_t>& sample_shape, const int64_t* rows, size_t n,
               void* dst) {
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
    H5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr,
                                 count.data(), nullptr),
             path, ": selecting rows ", rows[i], "..", rows[j - 1], " of /", name);
    H5Id mspace = space_id(H5_CHECK(H5Screate_simple(static_cast<int>(rank), count.data(),
                                                     nullptr),
                                    path, ": /", name));
    H5_CHECK(H5Dread(dset, mem_type, mspace.get(), fspace.get(), H5P_DEFAULT,
                     static_cast<uint8_t*>(dst) + i * row_bytes),
             path, ": reading rows ", rows[i], "..", rows[j - 1], " of /", name);
    i = j;
  }
}

// ---- read paths: chunk cache, decoded chunks, direct reads; set up once all shards are open

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
    H5_CHECK(H5Pget_chunk(dcpl.get(), static_cast<int>(lay.chunk.size()), lay.chunk.data()),
             path, ": chunk shape of /", name);
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
  const int64_t slots =
      next_prime(std::max(kMinChunkCacheSlots,
                          std::min(100 * fit, std::max(10 * fit, kChunkCacheSlotsCap))));
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

// Sets up how read() reads every /inputs and /attention_mask: the decoded chunks and chunk
// caches of Note [Chunk cache] (reopening the datasets) and the direct reads of Note [Direct
// reads]. Caller holds the HDF5 lock.
void configure_reads(std::vector<Shard>& shards, const DatasetInfo& info,
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
    objects.push_back({&shard, "inputs", &shard.inputs, &shard.inputs_rows,
                       memory_type(info.input_kind), {}});
    if (shard.attention_mask.valid())
      objects.push_back({&shard, "attention_mask", &shard.attention_mask, &shard.mask_rows,
                         H5T_NATIVE_UINT8, {}});
  }
  int64_t filtered_bytes = 0;  // D: all decoded chunks of all filtered objects
  for (Object& o : objects) {
    o.layout = object_layout(o.dset->get(), o.shard->path, o.name);
    o.rows->rows = static_cast<int64_t>(o.layout.dims[0]);
    o.rows->row_bytes = H5Tget_size(o.mem_type);
    for (size_t i = 1; i < o.layout.dims.size(); ++i)
      o.rows->row_bytes *= static_cast<size_t>(o.layout.dims[i]);
    if (o.layout.filtered) filtered_bytes += o.layout.num_chunks * o.layout.chunk_bytes;
  }

  // Note [Chunk cache]
  const int64_t budget = std::max<int64_t>(options.chunk_cache_bytes, 0);
  const bool keep_decoded = filtered_bytes <= budget;
  for (Object& o : objects) {
    if (o.layout.layout != H5D_CHUNKED) continue;
    int64_t cache_bytes = 0;  // unfiltered, or kept decoded by Frost
    if (o.layout.filtered && keep_decoded) {
      RowSource& src = *o.rows;
      src.access = RowAccess::kDecoded;
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
  if (!options.direct_reads) return;
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
}

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
// and published (Note [Chunk cache]). Takes the HDF5 lock.
void decode_blocks(const std::vector<BlockToDecode>& blocks,
                   const std::vector<int64_t>& sample_shape) {
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
  }
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
  H5_CHECK(H5Pget_chunk_cache(dapl.get(), &slots, &bytes, &w0), path, ": chunk cache of ",
           object);
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

}  // namespace

const char* row_access_name(RowAccess access) {
  switch (access) {
    case RowAccess::kHdf5: return "H5Dread";
    case RowAccess::kMapped: return "mapped";
    case RowAccess::kDecoded: return "decoded";
  }
  return "unknown";
}

struct H5Dataset::Impl {
  std::vector<std::string> paths;
  std::vector<Shard> shards;    // in global row order
  std::vector<int64_t> shard_ends;  // shards[i] holds global rows [shard_ends[i-1], shard_ends[i])
  std::vector<int64_t> labels;  // all N labels, validated at open
  DatasetInfo info;
  // Every shard's /inputs (/attention_mask) is read from memory: mapped or decoded.
  bool inputs_in_memory = false;
  bool masks_in_memory = false;
  bool any_decoded = false;  // some object is RowAccess::kDecoded

  const Shard& shard_of(int64_t row) const {
    const auto it = std::upper_bound(shard_ends.begin(), shard_ends.end(), row);
    return shards[static_cast<size_t>(it - shard_ends.begin())];
  }

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    H5Lock lock;
    shards.clear();  // closes the HDF5 handles under the lock
  }
};

H5Dataset::H5Dataset(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
H5Dataset::H5Dataset(H5Dataset&&) noexcept = default;
H5Dataset& H5Dataset::operator=(H5Dataset&&) noexcept = default;
H5Dataset::~H5Dataset() = default;

H5Dataset H5Dataset::open(const std::vector<std::string>& paths, const OpenOptions& options) {
  // Declared before the lock: if open fails after `impl` owns handles, the lock is released
  // first and ~Impl takes it again (it is not recursive).
  auto impl = std::make_unique<Impl>();
  impl->paths = expand_paths(paths);
  {
    H5Lock lock;
    std::vector<Shard> shards;  // destroyed (handles closed) under the lock on failure
    int64_t total = 0;
    for (const std::string& path : impl->paths) {
      Shard shard;
      DatasetInfo info = open_shard(path, shard, impl->labels);
      if (shards.empty()) {
        impl->info = info;
      } else {
        check_same_schema(impl->info, shards.front().path, info, path);
      }
      shard.first_row = total;
      total += shard.rows;
      shards.push_back(std::move(shard));
    }
    impl->info.num_samples = total;
    configure_reads(shards, impl->info, options);
    impl->inputs_in_memory = impl->masks_in_memory = true;
    for (const Shard& shard : shards) {
      impl->shard_ends.push_back(shard.first_row + shard.rows);
      impl->inputs_in_memory = impl->inputs_in_memory && shard.inputs_rows.in_memory();
      impl->masks_in_memory = impl->masks_in_memory && shard.attention_mask.valid() &&
                              shard.mask_rows.in_memory();
      impl->any_decoded = impl->any_decoded ||
                          shard.inputs_rows.access == RowAccess::kDecoded ||
                          shard.mask_rows.access == RowAccess::kDecoded;
    }
    impl->shards = std::move(shards);
  }
  return H5Dataset(std::move(impl));
}

std::vector<ObjectStorage> H5Dataset::storage() const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  std::vector<ObjectStorage> out;
  H5Lock lock;
  for (const Shard& shard : impl_->shards) {
    out.push_back(describe_object(shard.inputs.get(), shard.path, "/inputs", shard.inputs_rows));
    if (shard.attention_mask.valid())
      out.push_back(describe_object(shard.attention_mask.get(), shard.path, "/attention_mask",
                                    shard.mask_rows));
  }
  return out;
}

const DatasetInfo& H5Dataset::info() const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  return impl_->info;
}

int64_t H5Dataset::size() const { return info().num_samples; }

const std::vector<std::string>& H5Dataset::paths() const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  return impl_->paths;
}

void H5Dataset::read(const std::vector<int64_t>& indices, void* inputs_out, int64_t* labels_out,
                     uint8_t* attention_mask_out) const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  const Impl& d = *impl_;
  const int64_t n_total = d.info.num_samples;
  for (size_t i = 0; i < indices.size(); ++i)
    FROST_CHECK(indices[i] >= 0 && indices[i] < n_total, "H5Dataset::read: index ", indices[i],
                " (position ", i, " of the request) is outside [0, ", n_total,
                "), the rows of '", d.paths.front(), "'",
                d.paths.size() > 1 ? detail::str_cat(" and ", d.paths.size() - 1, " more shard(s)")
                                   : std::string());
  FROST_CHECK(attention_mask_out == nullptr || d.info.has_attention_mask,
              "H5Dataset::read: an attention mask was requested but '", d.paths.front(),
              "' has no /attention_mask");
  if (indices.empty()) return;
  FROST_CHECK(inputs_out != nullptr, "H5Dataset::read: inputs_out is null");

  const int64_t row_numel = d.info.sample_numel();
  const auto row_bytes = static_cast<size_t>(row_numel * d.info.element_bytes());
  const auto mask_row_bytes = static_cast<size_t>(row_numel);  // uint8 [L]
  const bool want_mask = attention_mask_out != nullptr;

  if (labels_out != nullptr)
    for (size_t i = 0; i < indices.size(); ++i)
      labels_out[i] = d.labels[static_cast<size_t>(indices[i])];

  // Decoded blocks this read needs and nobody has decoded yet (Note [Chunk cache]).
  if (d.any_decoded) {
    std::vector<BlockToDecode> missing;
    const hid_t mem_type = memory_type(d.info.input_kind);
    for (const int64_t index : indices) {
      const Shard& shard = d.shard_of(index);
      const int64_t r = index - shard.first_row;
      const auto need = [&](const RowSource& src, hid_t dset, const char* name, hid_t type) {
        if (src.access != RowAccess::kDecoded) return;
        const int64_t block = r / src.chunk_rows;
        if (src.decoded[static_cast<size_t>(block)].load(std::memory_order_acquire) == nullptr)
          missing.push_back({&shard, &src, dset, name, type, block});
      };
      need(shard.inputs_rows, shard.inputs.get(), "inputs", mem_type);
      if (want_mask)
        need(shard.mask_rows, shard.attention_mask.get(), "attention_mask", H5T_NATIVE_UINT8);
    }
    if (!missing.empty()) {
      std::sort(missing.begin(), missing.end());
      missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
      decode_blocks(missing, d.info.sample_shape);
    }
  }

  // Every object asked for is in memory (Note [Direct reads], Note [Chunk cache]): each row is
  // copied to its place, in the order asked for; no sorting, no staging, no HDF5 lock.
  if (d.inputs_in_memory && (!want_mask || d.masks_in_memory)) {
    auto* out = static_cast<uint8_t*>(inputs_out);
    for (size_t i = 0; i < indices.size(); ++i) {
      const Shard& shard = d.shard_of(indices[i]);
      const int64_t r = indices[i] - shard.first_row;
      std::memcpy(out + i * row_bytes, shard.inputs_rows.row(r), row_bytes);
      if (want_mask)
        std::memcpy(attention_mask_out + i * mask_row_bytes, shard.mask_rows.row(r),
                    mask_row_bytes);
    }
    return;
  }

  // Rows to read: ascending and unique. Already so (eval batches) -> read straight into the
  // caller's buffers; otherwise read into staging buffers and scatter afterwards.
  bool ascending = true;
  for (size_t i = 1; i < indices.size() && ascending; ++i) ascending = indices[i] > indices[i - 1];
  std::vector<int64_t> rows;
  std::vector<uint8_t> stage_inputs, stage_mask;
  uint8_t* dst_inputs = static_cast<uint8_t*>(inputs_out);
  uint8_t* dst_mask = attention_mask_out;
  if (ascending) {
    rows = indices;
  } else {
    rows = indices;
    std::sort(rows.begin(), rows.end());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
    stage_inputs.resize(rows.size() * row_bytes);
    dst_inputs = stage_inputs.data();
    if (want_mask) {
      stage_mask.resize(rows.size() * mask_row_bytes);
      dst_mask = stage_mask.data();
    }
  }

  {
    H5Lock lock;
    const hid_t mem_type = memory_type(d.info.input_kind);
    size_t begin = 0;
    for (const Shard& shard : d.shards) {
      if (begin == rows.size()) break;
      const int64_t shard_end = shard.first_row + shard.rows;
      size_t end = begin;
      while (end < rows.size() && rows[end] < shard_end) ++end;
      if (end == begin) continue;
      std::vector<int64_t> local(rows.begin() + static_cast<std::ptrdiff_t>(begin),
                                 rows.begin() + static_cast<std::ptrdiff_t>(end));
      for (int64_t& r : local) r -= shard.first_row;
      if (shard.inputs_rows.in_memory()) {
        copy_rows(shard.inputs_rows, local, dst_inputs + begin * row_bytes);
      } else {
        read_rows(shard.inputs.get(), "inputs", shard.path, mem_type, d.info.sample_shape,
                  local.data(), local.size(), dst_inputs + begin * row_bytes);
      }
      if (dst_mask != nullptr && shard.mask_rows.in_memory()) {
        copy_rows(shard.mask_rows, local, dst_mask + begin * mask_row_bytes);
      } else if (dst_mask != nullptr) {
        read_rows(shard.attention_mask.get(), "attention_mask", shard.path, H5T_NATIVE_UINT8,
                  d.info.sample_shape, local.data(), local.size(),
                  dst_mask + begin * mask_row_bytes);
      }
      begin = end;
    }
    FROST_ASSERT(begin == rows.size(), "rows past the last shard");
  }

  if (ascending) return;
  auto* out = static_cast<uint8_t*>(inputs_out);
  for (size_t i = 0; i < indices.size(); ++i) {
    const auto slot = static_cast<size_t>(
        std::lower_bound(rows.begin(), rows.end(), indices[i]) - rows.begin());
    std::memcpy(out + i * row_bytes, stage_inputs.data() + slot * row_bytes, row_bytes);
    if (want_mask)
      std::memcpy(attention_mask_out + i * mask_row_bytes,
                  stage_mask.data() + slot * mask_row_bytes, mask_row_bytes);
  }
}

}  // namespace frost::data
