// The label column of a text or table input as the targets of train.task multilabel or
// regression (dataset_info.h: /targets [N, K]). Shared by the converters (frost-prep text);
// the cell format is the same whatever the file format around it.
//
//   multilabel  each cell lists the sample's labels separated by '|' ("sports|politics"; an
//               empty cell: no label). The distinct label names become the K columns, ordered
//               numerically when every name is an integer, else by bytes (as classification's
//               classes); targets[i][k] = 1 when row i lists label k.
//   regression  each cell holds K numbers separated by '|' ("0.5|-2e3"), K the same in every
//               row; each must be a finite decimal number (strtod, the C locale, whole field).
//
// No LibTorch here (frost::data).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frost/data/dataset_info.h"

namespace frost::data {

/// The targets of N rows.
struct TaskTargets {
  int64_t k = 0;  ///< K columns
  /// The name of each column: multilabel the label names in column order; regression
  /// "target_0", "target_1", ...
  std::vector<std::string> names;
  bool integer_names = false;  ///< multilabel: every label name is an integer
  std::vector<float> values;   ///< [N, K] row-major: 0/1 (multilabel) or the numbers
};

/// Parses `cells` (one per row; `lines[i]`: row i's line in `path`, for messages) for `task`
/// (kMultilabel or kRegression) as the file comment says. Throws frost::Error naming the file,
/// the line and the fault: a cell that is not valid UTF-8, an empty label name ("a||b"), a
/// number that does not parse or is not finite, a row with another count of numbers than the
/// first, fewer than 1 column in all (multilabel: no row lists any label).
TaskTargets parse_task_targets(Task task, const std::vector<std::string>& cells,
                               const std::vector<int64_t>& lines, const std::string& path);

/// `cell` split at every '|' (an empty cell gives one empty field).
std::vector<std::string> split_targets_cell(const std::string& cell);

}  // namespace frost::data
