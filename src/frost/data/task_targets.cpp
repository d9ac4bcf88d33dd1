#include "frost/data/task_targets.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>

#include "frost/core/error.h"
#include "frost/core/strings.h"
#include "frost/text/wordpiece.h"

namespace frost::data {
namespace {

// An integer name: optional sign, decimal digits, fits int64 (as text_prep's class labels).
bool parse_integer(const std::string& s, int64_t* value) {
  if (s.empty()) return false;
  size_t i = s[0] == '-' || s[0] == '+' ? 1 : 0;
  if (i == s.size()) return false;
  for (size_t j = i; j < s.size(); ++j)
    if (s[j] < '0' || s[j] > '9') return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno == ERANGE || end != s.c_str() + s.size()) return false;
  *value = v;
  return true;
}

}  // namespace

std::vector<std::string> split_targets_cell(const std::string& cell) {
  std::vector<std::string> out(1);
  for (char ch : cell) {
    if (ch == '|') {
      out.emplace_back();
    } else {
      out.back() += ch;
    }
  }
  return out;
}

TaskTargets parse_task_targets(Task task, const std::vector<std::string>& cells,
                               const std::vector<int64_t>& lines, const std::string& path) {
  FROST_CHECK(task == Task::kMultilabel || task == Task::kRegression,
              "parse_task_targets: task must be multilabel or regression");
  FROST_CHECK(lines.size() == cells.size(), "parse_task_targets: ", cells.size(), " cells but ",
              lines.size(), " line numbers");
  const size_t n = cells.size();
  TaskTargets t;
  if (task == Task::kRegression) {
    for (size_t r = 0; r < n; ++r) {
      const std::vector<std::string> fields = split_targets_cell(cells[r]);
      if (r == 0) {
        t.k = static_cast<int64_t>(fields.size());
        for (int64_t j = 0; j < t.k; ++j) t.names.push_back("target_" + std::to_string(j));
        t.values.reserve(n * fields.size());
      }
      FROST_CHECK(static_cast<int64_t>(fields.size()) == t.k, path, ": line ", lines[r], ": ",
                  fields.size(), " target value(s) but the first row has ", t.k,
                  "; every row needs the same K ('|'-separated)");
      for (size_t j = 0; j < fields.size(); ++j) {
        const std::string& f = fields[j];
        errno = 0;
        char* end = nullptr;
        const double v = f.empty() ? 0.0 : std::strtod(f.c_str(), &end);
        FROST_CHECK(!f.empty() && end == f.c_str() + f.size() && errno != ERANGE &&
                        std::isfinite(v) && std::isfinite(static_cast<float>(v)),
                    path, ": line ", lines[r], ": target ", j, " = '", printable(f, 40),
                    "' is not a finite number (regression targets are decimal numbers, "
                    "'|'-separated)");
        t.values.push_back(static_cast<float>(v));
      }
    }
    FROST_CHECK(t.k >= 1, path, ": no rows");
    return t;
  }
  // Multilabel: the names first, then the 0/1 rows.
  std::vector<std::vector<std::string>> rows(n);
  bool all_int = true;
  std::map<std::string, int64_t> by_name;
  std::map<int64_t, std::string> by_int;
  for (size_t r = 0; r < n; ++r) {
    FROST_CHECK(text::is_valid_utf8(cells[r]), path, ": line ", lines[r],
                ": the labels are not valid UTF-8");
    if (cells[r].empty()) continue;  // no label
    rows[r] = split_targets_cell(cells[r]);
    for (const std::string& name : rows[r]) {
      FROST_CHECK(!name.empty(), path, ": line ", lines[r], ": an empty label name in '",
                  printable(cells[r], 80), "' (labels are '|'-separated)");
      int64_t v = 0;
      if (all_int && parse_integer(name, &v)) {
        by_int.emplace(v, name);
      } else {
        all_int = false;
      }
      by_name.emplace(name, 0);
    }
  }
  FROST_CHECK(!by_name.empty(), path,
              ": no row lists a label; multilabel rows list their labels '|'-separated");
  t.integer_names = all_int;
  if (all_int) {
    // Numeric order; equal integers ("01", "1") are one label.
    std::map<int64_t, int64_t> column;
    for (const auto& [v, name] : by_int) {
      column.emplace(v, t.k++);
      t.names.push_back(std::to_string(v));
    }
    for (auto& [name, col] : by_name) {
      int64_t v = 0;
      parse_integer(name, &v);
      col = column.at(v);
    }
  } else {
    for (auto& [name, col] : by_name) {
      col = t.k++;
      t.names.push_back(name);
    }
  }
  t.values.assign(n * static_cast<size_t>(t.k), 0.0f);
  for (size_t r = 0; r < n; ++r)
    for (const std::string& name : rows[r])
      t.values[r * static_cast<size_t>(t.k) + static_cast<size_t>(by_name.at(name))] = 1.0f;
  return t;
}

}  // namespace frost::data
