#include "frost/data/class_names.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

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

std::string class_name_mismatch(const std::vector<std::string>& a, const std::string& a_label,
                                const std::vector<std::string>& b, const std::string& b_label) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) {
      return "class " + std::to_string(i) + " is '" + a[i] + "' in " + a_label + " but '" + b[i] +
             "' in " + b_label;
    }
  }
  return "";
}

std::vector<std::string> read_run_class_names(const std::string& run_dir) {
  const std::string path = run_dir + "/" + kRunClassNames;
  if (!std::filesystem::exists(path)) return {};
  std::ifstream in(path);
  FROST_CHECK(in.good(), path, ": cannot open the file");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json record;
  try {
    record = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception&) {
    throw Error(path + ": not JSON (frost-train writes {\"classes\": [...]} there)");
  }
  FROST_CHECK(record.is_object() && record.contains("classes") && record["classes"].is_array(),
              path, ": expected {\"classes\": [...]} (the run's class names)");
  std::vector<std::string> names;
  for (const auto& v : record["classes"]) {
    FROST_CHECK(v.is_string(), path, ": classes holds a ", v.type_name(), ", not a string");
    names.push_back(v.get<std::string>());
  }
  return names;
}

}  // namespace frost::data
