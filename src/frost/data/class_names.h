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

}  // namespace frost::data
