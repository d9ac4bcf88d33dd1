#include "frost/data/class_names.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "frost/core/error.h"
#include "frost/data/h5_util.h"

namespace frost::data {

std::vector<std::string> read_class_names(const std::string& path, int64_t num_classes) {
  H5Lock lock;
  H5Id fapl = make_read_fapl(path);  // read-only: no file lock
  H5Id file = file_id(
      H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), path, ": opening the file"));
  const hid_t root = file.get();
  std::vector<std::string> names;
  if (has_attr(root, "label_values", path)) {
    const std::string text = read_string_attr(root, "label_values", path);
    nlohmann::json list;
    try {
      list = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception&) {
      throw Error(path + ": root attribute label_values is not JSON (a list of the classes' "
                         "labels)");
    }
    FROST_CHECK(list.is_array(), path, ": root attribute label_values is not a JSON list");
    for (const auto& v : list) {
      FROST_CHECK(v.is_string(), path, ": root attribute label_values holds a ",
                  v.type_name(), ", not a string");
      names.push_back(v.get<std::string>());
    }
  } else if (has_attr(root, "class_ids", path)) {
    for (const double id : read_double_array_attr(root, "class_ids", path)) {
      names.push_back(std::to_string(static_cast<int64_t>(std::llround(id))));
    }
  }
  if (static_cast<int64_t>(names.size()) != num_classes) names.clear();
  return names;
}

}  // namespace frost::data
