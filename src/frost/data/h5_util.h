// HDF5 C API plumbing shared by every piece of Frost that calls HDF5 itself: the dataset reader
// and writer in this folder, and any benchmark or test that drives HDF5 directly.
//
//   H5Lock          holds hdf5_mutex() (Note [HDF5 lock] in h5_dataset.h) and silences HDF5's
//                   own printing of error stacks
//   H5_CHECK        runs one HDF5 call; a negative return throws frost::Error with the caller's
//                   context, the call, file:line and HDF5's own error stack
//   H5Id            owns one hid_t and closes it (file_id, dataset_id, ... make one)
//   make_fapl       the file access properties of every file Frost opens or creates
//   dataset_dims, dtype_name, shape_str, and the root-attribute readers and writers
//
// Use from outside frost::data, e.g. a benchmark reading /inputs with plain HDF5 calls:
//
//   H5Lock lock;  // first: the identifiers below close, in reverse order, while it is held
//   H5Id fapl = make_read_fapl(path);  // not H5P_DEFAULT: see make_read_fapl
//   H5Id file = file_id(H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), path,
//                                ": opening the file"));
//   H5Id dset = dataset_id(H5_CHECK(H5Dopen2(file.get(), "inputs", H5P_DEFAULT), path,
//                                   ": opening /inputs"));
//
// Every function here calls HDF5 and expects the caller to hold the lock (an H5Lock), except
// where it says otherwise. No rank or host is recorded here: frost::data does not know them;
// the layers above add them to the error (Note [Error context] in core/error.h).
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "frost/core/error.h"

namespace frost::data {

/// Holds hdf5_mutex() for its lifetime (Note [HDF5 lock] in h5_dataset.h; not recursive: never
/// construct one while the thread holds the mutex). The first H5Lock of the process also turns
/// off HDF5's automatic printing of its error stack to stderr (H5Eset_auto2, process-wide):
/// H5_CHECK reports errors itself, and expected failures (probing) stay quiet.
class H5Lock {
 public:
  H5Lock();
  H5Lock(const H5Lock&) = delete;
  H5Lock& operator=(const H5Lock&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
};

/// The current HDF5 error stack of this thread as one line, innermost (the actual cause) first,
/// at most six frames; then clears the stack. "no HDF5 error message" when it is empty.
std::string hdf5_error_text();

namespace internal {
/// Throws frost::Error "<context>: HDF5 call <call> failed at <file>:<line>: <hdf5_error_text()>",
/// `file` shortened to its path below the repository root.
[[noreturn]] void throw_hdf5_error(const std::string& context, const char* call, const char* file,
                                   int line);

template <typename T, typename Context>
T h5_check(T ret, const char* call, const char* file, int line, Context&& context) {
  if (ret < 0) throw_hdf5_error(context(), call, file, line);
  return ret;
}
}  // namespace internal

}  // namespace frost::data

/// H5_CHECK(call, context...): runs an HDF5 call (the caller holds the HDF5 lock) and returns
/// its result; on a negative return throws frost::Error
///   "<context>: HDF5 call <call> failed at <file>:<line>: <HDF5's own error stack>".
/// The context arguments are concatenated as by FROST_CHECK, only on failure; they name the file
/// and the dataset or attribute, for the user (e.g. `path, ": opening /", name`).
#define H5_CHECK(call, ...)                                            \
  ::frost::data::internal::h5_check((call), #call, __FILE__, __LINE__, \
                                    [&] { return ::frost::detail::str_cat(__VA_ARGS__); })

namespace frost::data {

/// Owns an HDF5 identifier and closes it with the function it was made with. The destructor
/// closes without checking and must run while the HDF5 lock is held: declare the H5Lock before
/// the H5Ids of a scope, or keep them in an object whose destructor takes the lock. Movable,
/// not copyable.
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
  /// Closes and returns the closer's result (for the file being written, where a failed close
  /// loses data: check it with H5_CHECK).
  herr_t close() {
    const herr_t rc = (id_ >= 0 && close_ != nullptr) ? close_(id_) : 0;
    id_ = -1;
    return rc;
  }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

/// Owners of the identifier kinds Frost uses, each closed by its H5?close.
inline H5Id file_id(hid_t id) { return {id, H5Fclose}; }
inline H5Id dataset_id(hid_t id) { return {id, H5Dclose}; }
inline H5Id space_id(hid_t id) { return {id, H5Sclose}; }
inline H5Id type_id(hid_t id) { return {id, H5Tclose}; }
inline H5Id attr_id(hid_t id) { return {id, H5Aclose}; }
inline H5Id plist_id(hid_t id) { return {id, H5Pclose}; }
inline H5Id object_id(hid_t id) { return {id, H5Oclose}; }

/// File access properties for every file Frost creates (and opens other than read-only). File
/// locking stays on, but a file system without lock support (some Lustre/GPFS mounts, where
/// HDF5 1.10 otherwise fails with "unable to lock file") is tolerated, as
/// HDF5_USE_FILE_LOCKING=BEST_EFFORT would do. `where` is the H5_CHECK context.
H5Id make_fapl(const std::string& where);

/// File access properties for the read-only inputs Frost opens (training and test data, class
/// names): HDF5's file locking off (H5Pset_file_locking(fapl, false, true), HDF5 >= 1.10.7), as
/// HDF5_USE_FILE_LOCKING=FALSE would do. Many ranks open one file at once, on file systems
/// where flock() fails or hangs, and a read-only open has nothing to protect: Frost never
/// writes a file in place (Note [HDF5 file locking] in docs/data.md). The environment variable
/// HDF5_USE_FILE_LOCKING, when set, still overrides this (HDF5's rule). HDF5 refuses to open,
/// in one process, a file that is already open with other locking settings, so any read-only
/// open of a file an H5Dataset may hold open (tools, tests) must use these properties too.
H5Id make_read_fapl(const std::string& where);

/// The dimensions of dataset `dset` (/`name` of the file `path`, for messages).
std::vector<int64_t> dataset_dims(hid_t dset, const std::string& path, const char* name);

/// A short dtype name for messages, e.g. "uint8", "float64", "string".
std::string dtype_name(hid_t type);

/// "[2, 28, 28]", for messages. Calls no HDF5 function.
std::string shape_str(const std::vector<int64_t>& dims);

// ---- root attributes ---------------------------------------------------------------------
// `loc` is the file (its root group); `where`/`path` name the file for messages.

/// Writes a scalar variable-length UTF-8 string attribute.
void write_string_attr(hid_t loc, const char* name, const std::string& value,
                       const std::string& where);
/// Writes int64 attribute `name`: a scalar (values[0]) when `scalar`, else a 1-D array of n.
void write_int64_attr(hid_t loc, const char* name, const int64_t* values, hsize_t n, bool scalar,
                      const std::string& where);
/// Writes a 1-D float64 array attribute.
void write_double_array_attr(hid_t loc, const char* name, const std::vector<double>& values,
                             const std::string& where);

/// Whether the root attribute `name` exists.
bool has_attr(hid_t loc, const char* name, const std::string& path);
/// Reads a single string (variable or fixed length, trailing NULs and spaces dropped); throws
/// frost::Error naming `path` and the attribute when it is not one string.
std::string read_string_attr(hid_t loc, const char* name, const std::string& path);
/// Reads a single integer; throws frost::Error when it is not one integer.
int64_t read_int_attr(hid_t loc, const char* name, const std::string& path);
/// Reads a float or integer array as doubles; throws frost::Error when it does not hold numbers.
std::vector<double> read_double_array_attr(hid_t loc, const char* name, const std::string& path);

}  // namespace frost::data
