// HDF5 plumbing and root attributes (h5_util.h).
//
//   hdf5_mutex, H5Lock           the process-wide lock (Note [HDF5 lock] in h5_dataset.h)
//   hdf5_error_text, H5_CHECK's  HDF5's error stack as one line, the error H5_CHECK throws
//   make_fapl, dataset_dims, dtype_name, shape_str
//   attributes                   write_*_attr, has_attr, read_*_attr
#include "frost/data/h5_util.h"

#include <algorithm>
#include <cstring>

#include "frost/data/h5_dataset.h"

namespace frost::data {

std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

// ---- HDF5 plumbing -----------------------------------------------------------------------

H5Lock::H5Lock() : lock_(hdf5_mutex()) {
  static bool silenced = false;
  if (!silenced) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    silenced = true;
  }
}

namespace {

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

// `file` (__FILE__) from the repository's src/ or tests/ folder on, e.g.
// "src/frost/data/h5_util.cpp": the path after the last "/src/" or "/tests/" that it holds
// (the later of the two), or `file` as it is when it holds neither.
const char* short_file(const char* file) {
  const char* last = nullptr;
  for (const char* root : {"/src/", "/tests/"})
    for (const char* s = std::strstr(file, root); s != nullptr; s = std::strstr(s + 1, root))
      if (last == nullptr || s > last) last = s;
  return last != nullptr ? last + 1 : file;
}

}  // namespace

std::string hdf5_error_text() {
  std::string text;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_error, &text);
  H5Eclear2(H5E_DEFAULT);
  return text.empty() ? "no HDF5 error message" : text;
}

namespace internal {
void throw_hdf5_error(const std::string& context, const char* call, const char* file, int line) {
  throw Error(detail::str_cat(context, ": HDF5 call ", call, " failed at ", short_file(file), ":",
                              line, ": ", hdf5_error_text()));
}
}  // namespace internal

H5Id make_fapl(const std::string& where) {
  H5Id fapl = plist_id(H5_CHECK(H5Pcreate(H5P_FILE_ACCESS), where));
#if H5_VERSION_GE(1, 10, 7)
  H5_CHECK(H5Pset_file_locking(fapl.get(), /*use_file_locking=*/true,
                               /*ignore_when_disabled=*/true),
           where);
#endif
  return fapl;
}

H5Id make_read_fapl(const std::string& where) {
  H5Id fapl = plist_id(H5_CHECK(H5Pcreate(H5P_FILE_ACCESS), where));
#if H5_VERSION_GE(1, 10, 7)
  H5_CHECK(H5Pset_file_locking(fapl.get(), /*use_file_locking=*/false,
                               /*ignore_when_disabled=*/true),
           where);
#endif
  return fapl;
}

std::vector<int64_t> dataset_dims(hid_t dset, const std::string& path, const char* name) {
  H5Id space = space_id(H5_CHECK(H5Dget_space(dset), path, ": /", name));
  const int rank = H5_CHECK(H5Sget_simple_extent_ndims(space.get()), path, ": /", name);
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), path, ": /", name);
  return {dims.begin(), dims.end()};
}

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

std::string shape_str(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

// ---- attributes --------------------------------------------------------------------------

void write_string_attr(hid_t loc, const char* name, const std::string& value,
                       const std::string& where) {
  H5Id type = type_id(H5_CHECK(H5Tcopy(H5T_C_S1), where));
  H5_CHECK(H5Tset_size(type.get(), H5T_VARIABLE), where);
  H5_CHECK(H5Tset_cset(type.get(), H5T_CSET_UTF8), where);
  H5Id space = space_id(H5_CHECK(H5Screate(H5S_SCALAR), where));
  H5Id attr =
      attr_id(H5_CHECK(H5Acreate2(loc, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                       where, ": creating attribute ", name));
  const char* data = value.c_str();
  H5_CHECK(H5Awrite(attr.get(), type.get(), &data), where, ": writing attribute ", name);
}

void write_int64_attr(hid_t loc, const char* name, const int64_t* values, hsize_t n, bool scalar,
                      const std::string& where) {
  H5Id space = space_id(scalar ? H5_CHECK(H5Screate(H5S_SCALAR), where)
                               : H5_CHECK(H5Screate_simple(1, &n, nullptr), where));
  H5Id attr =
      attr_id(H5_CHECK(H5Acreate2(loc, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                       where, ": creating attribute ", name));
  H5_CHECK(H5Awrite(attr.get(), H5T_NATIVE_INT64, values), where, ": writing attribute ", name);
}

void write_double_array_attr(hid_t loc, const char* name, const std::vector<double>& values,
                             const std::string& where) {
  const hsize_t n = values.size();
  H5Id space = space_id(H5_CHECK(H5Screate_simple(1, &n, nullptr), where));
  H5Id attr =
      attr_id(H5_CHECK(H5Acreate2(loc, name, H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                       where, ": creating attribute ", name));
  H5_CHECK(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, values.data()), where, ": writing attribute ",
           name);
}

bool has_attr(hid_t loc, const char* name, const std::string& path) {
  return H5_CHECK(H5Aexists(loc, name), path, ": looking for root attribute ", name) > 0;
}

namespace {

// An open attribute with its file type and its number of elements.
struct OpenAttr {
  H5Id attr;
  H5Id ftype;
  hssize_t npoints = 0;
};

OpenAttr open_attr(hid_t loc, const char* name, const std::string& path) {
  OpenAttr a;
  a.attr = attr_id(H5_CHECK(H5Aopen(loc, name, H5P_DEFAULT), path, ": opening attribute ", name));
  H5Id space = space_id(H5_CHECK(H5Aget_space(a.attr.get()), path, ": attribute ", name));
  a.npoints = H5_CHECK(H5Sget_simple_extent_npoints(space.get()), path, ": attribute ", name);
  a.ftype = type_id(H5_CHECK(H5Aget_type(a.attr.get()), path, ": attribute ", name));
  return a;
}

// open_attr for a root attribute that must hold one value of class `cls` (`what` names it).
OpenAttr open_single_attr(hid_t loc, const char* name, const std::string& path, H5T_class_t cls,
                          const char* what) {
  OpenAttr a = open_attr(loc, name, path);
  FROST_CHECK(H5Tget_class(a.ftype.get()) == cls && a.npoints == 1, path, ": root attribute '",
              name, "' must be a single ", what, ", found ", a.npoints, " value(s) of type ",
              dtype_name(a.ftype.get()));
  return a;
}

}  // namespace

std::string read_string_attr(hid_t loc, const char* name, const std::string& path) {
  const OpenAttr a = open_single_attr(loc, name, path, H5T_STRING, "string");
  H5Id mtype = type_id(H5_CHECK(H5Tcopy(H5T_C_S1), path));
  H5_CHECK(H5Tset_cset(mtype.get(), H5Tget_cset(a.ftype.get())), path);
  if (H5_CHECK(H5Tis_variable_str(a.ftype.get()), path) > 0) {
    H5_CHECK(H5Tset_size(mtype.get(), H5T_VARIABLE), path);
    char* data = nullptr;
    H5_CHECK(H5Aread(a.attr.get(), mtype.get(), &data), path, ": reading attribute ", name);
    std::string s = data != nullptr ? data : "";
    H5free_memory(data);
    return s;
  }
  // Fixed length: the memory type is NUL-terminated, so it needs one byte more than the file
  // type (which h5py writes NUL-padded, without a terminator when the text fills it).
  const size_t size = H5Tget_size(a.ftype.get()) + 1;
  H5_CHECK(H5Tset_size(mtype.get(), size), path);
  std::string s(size, '\0');
  H5_CHECK(H5Aread(a.attr.get(), mtype.get(), s.data()), path, ": reading attribute ", name);
  s.resize(std::strlen(s.c_str()));  // fixed-length strings are NUL- or space-padded
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

int64_t read_int_attr(hid_t loc, const char* name, const std::string& path) {
  const OpenAttr a = open_single_attr(loc, name, path, H5T_INTEGER, "integer");
  int64_t v = 0;
  H5_CHECK(H5Aread(a.attr.get(), H5T_NATIVE_INT64, &v), path, ": reading attribute ", name);
  return v;
}

std::vector<double> read_double_array_attr(hid_t loc, const char* name, const std::string& path) {
  const OpenAttr a = open_attr(loc, name, path);
  const H5T_class_t cls = H5Tget_class(a.ftype.get());
  FROST_CHECK(cls == H5T_FLOAT || cls == H5T_INTEGER, path, ": root attribute '", name,
              "' must hold numbers, found type ", dtype_name(a.ftype.get()));
  std::vector<double> v(static_cast<size_t>(a.npoints));
  if (!v.empty())
    H5_CHECK(H5Aread(a.attr.get(), H5T_NATIVE_DOUBLE, v.data()), path, ": reading attribute ",
             name);
  return v;
}

}  // namespace frost::data
