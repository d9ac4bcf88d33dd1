#include "frost/data/token_file.h"

#include "frost/core/error.h"
#include "frost/data/h5_util.h"

namespace frost::data {

TokenizerRecord read_tokenizer_record(const std::string& path) {
  H5Lock lock;
  H5Id fapl = make_read_fapl(path);  // read-only: no file lock
  H5Id file = file_id(
      H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), path, ": opening the file"));
  const hid_t root = file.get();
  TokenizerRecord record;
  if (has_attr(root, "tokenizer", path)) record.tokenizer = read_string_attr(root, "tokenizer", path);
  if (has_attr(root, "pad_id", path)) record.pad_id = read_int_attr(root, "pad_id", path);
  return record;
}

}  // namespace frost::data
