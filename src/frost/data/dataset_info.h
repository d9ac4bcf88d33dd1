// The Frost HDF5 dataset schema (see docs/data.md).
//
//   /inputs          [N, ...]  uint8 images [N,C,H,W], float32 features [N,D],
//                              or int32 token ids [N,L]
//   /attention_mask  [N, L]    uint8, optional (text)
//   /token_type_ids  [N, L]    uint8, optional (text pairs): 0 = first segment, 1 = second
//   /labels          [N]       int64 class index (task classification)
//   /targets         [N, K]    uint8 0/1 per label (task multilabel) or float32 finite values
//                              (task regression); replaces /labels for those tasks
//   root attributes: frost_schema (int, = kFrostSchemaVersion), task ("classification" |
//                    "multilabel" | "regression"; absent = classification),
//                    num_classes (int64; multilabel: K labels), num_targets (int64; regression
//                    only: K targets), input_kind ("image" | "features" | "tokens"),
//                    mean / std (float64 arrays, one per channel, images only; in [0,1] units)
// Every dataset is chunked along axis 0.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace frost::data {

inline constexpr int kFrostSchemaVersion = 1;

enum class InputKind { kImage, kFeatures, kTokens };

/// "image" | "features" | "tokens" -> InputKind. Throws frost::Error on anything else.
InputKind parse_input_kind(const std::string& s);
const char* input_kind_name(InputKind k);

/// What a file's rows are labelled with (root attribute task; docs/data.md):
///   kClassification  /labels int64 [N], one class index per sample (cross-entropy)
///   kMultilabel      /targets uint8 [N, K], 0 or 1 per label (binary cross-entropy per label)
///   kRegression      /targets float32 [N, K], K real targets (mean squared error)
enum class Task { kClassification, kMultilabel, kRegression };

/// "classification" | "multilabel" | "regression" -> Task. Throws frost::Error on anything else.
Task parse_task(const std::string& s);
const char* task_name(Task t);

/// What a dataset file (or a list of shard files) holds, read from its attributes and shapes.
struct DatasetInfo {
  int64_t num_samples = 0;            ///< N, summed over shard files
  std::vector<int64_t> sample_shape;  ///< shape of one /inputs row, e.g. {1, 28, 28}
  InputKind input_kind = InputKind::kImage;
  /// The head's outputs: classes (classification), labels K (multilabel) or targets K
  /// (regression, from the num_targets attribute).
  int64_t num_classes = 0;
  std::string task = "classification";  ///< task_name(task_kind())
  /// K, the columns of /targets (multilabel, regression); 0 for classification.
  int64_t num_targets = 0;
  std::vector<double> mean, std;  ///< per channel, images only (normalise x/255 then (x-mean)/std)
  bool has_attention_mask = false;
  /// /token_type_ids present (sentence pairs; tokens with /attention_mask only).
  bool has_token_type_ids = false;

  /// parse_task(task).
  Task task_kind() const;
  /// Elements in one /inputs row (product of sample_shape).
  int64_t sample_numel() const;
  /// Bytes per element of /inputs (1 uint8, 4 float32/int32).
  int64_t element_bytes() const;
};

}  // namespace frost::data
