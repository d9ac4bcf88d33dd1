// The names of a dataset's classes, from the optional root attributes frost-prep writes
// (docs/data.md): label_values (a JSON list of strings, frost-prep text) or class_ids (int64
// [k], the original class id of each label, as its decimal text). No LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace frost::data {

/// The name of each of the `num_classes` classes of the dataset file `path` (a shard; every
/// shard of a dataset is written with the same attributes): label_values when present, else
/// class_ids, else an empty vector (no names: classes are known by their index). An attribute
/// that does not hold exactly `num_classes` entries is ignored (the names would be wrong).
/// Takes the HDF5 lock (Note [HDF5 lock]); the caller must not hold it. Throws frost::Error
/// naming `path` when the file cannot be opened or label_values is not a JSON list of strings.
std::vector<std::string> read_class_names(const std::string& path, int64_t num_classes);

/// Note [Class names of a run]
/// A label is an index; its name comes from the file that was prepared with it. Two files
/// prepared apart (a JSONL file with other label strings, another ImageFolder tree) can give the
/// same index to different classes, and a model trained on one then scores or names the other's
/// rows wrongly without a word. So frost-train refuses a data.test whose class names differ from
/// data.train's, rank 0 writes data.train's names to log.dir/classes.json
/// ({"classes": [...]}), and frost-predict names its predictions from that record and refuses a
/// --data file whose own names differ. Files without names (classes known by index only) are
/// not checked.
constexpr const char* kRunClassNames = "classes.json";

/// "" when `a` and `b` agree wherever both name a class (either may be empty, and the shorter
/// is compared with the start of the longer: a test file may hold fewer classes); else
/// "class I is 'X' in <a_label> but 'Y' in <b_label>" for the first index I where they differ.
std::string class_name_mismatch(const std::vector<std::string>& a, const std::string& a_label,
                                const std::vector<std::string>& b, const std::string& b_label);

/// The class names of the run directory `run_dir` (`run_dir`/classes.json, written by
/// frost-train), or an empty vector when the record does not exist (a run whose data named no
/// classes, or an older run). Throws frost::Error naming the file when it exists but is not
/// {"classes": [string, ...]}.
std::vector<std::string> read_run_class_names(const std::string& run_dir);

}  // namespace frost::data
