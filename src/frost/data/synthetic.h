// Synthetic datasets of real shapes (the library side of `frost-prep synthetic`): random uint8
// images or random token ids in the Frost HDF5 schema (dataset_info.h, docs/data.md), for
// throughput benchmarks that need the layout of a real fine-tuning job but not its content.
//
//   image   /inputs uint8 [N, C, H, W], every byte uniform in 0..255; mean/std attributes are
//           those of that distribution, per channel: mean 0.5, std sqrt((256^2 - 1) / 12) / 255
//           (the population std of a uniform byte, in [0, 1] units)
//   tokens  /inputs int32 [N, L] and /attention_mask uint8 [N, L]: row i has length n_i uniform
//           in [min_len, L]: [CLS] (101), n_i - 2 ids uniform in [999, vocab_size), [SEP] (102),
//           then padding 0 with mask 0 (the layout frost-prep text writes for a BERT vocabulary)
//   both    /labels int64 [N] uniform in [0, num_classes); num_classes attribute; task
//           classification; root attribute "synthetic_seed" (int64 [1]) records the seed
//
// Deterministic: the same options give the same bytes on every machine (SplitMix64, Steele et
// al. 2014, as java.util.SplittableRandom; no std:: distribution, whose output is
// implementation-defined). No LibTorch here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frost/data/dataset_info.h"

namespace frost::data {

/// What to generate, and where to.
struct SyntheticOptions {
  InputKind kind = InputKind::kImage;  ///< kImage or kTokens (kFeatures is refused)
  int64_t rows = 0;                    ///< N >= 1
  std::vector<int64_t> image_shape;    ///< image: {C, H, W}, each >= 1
  int64_t seq_len = 128;               ///< tokens: L >= 2
  int64_t min_len = 0;                 ///< tokens: shortest row incl. [CLS]/[SEP]; 0 = L / 4 (>= 2)
  int64_t vocab_size = 30522;          ///< tokens: > 1000 (BERT-base uncased: 30522)
  int64_t num_classes = 2;             ///< >= 1; multilabel / regression: K
  /// classification: /labels uniform in [0, num_classes); multilabel: /targets [N, K] each
  /// bit uniform in {0, 1}; regression: /targets [N, K] uniform in [-1, 1] (53-bit draws
  /// rounded to float32). --raw is for classification only.
  Task task = Task::kClassification;
  uint64_t seed = 0;
  int64_t chunk_rows = 1024;  ///< HDF5 chunk rows (see WriteOptions::chunk_rows)
  std::string out_path;       ///< the HDF5 file written (atomically, write_dataset)
  /// Also write the arrays as raw little-endian files next to `out_path`, for readers without
  /// h5py (torch.from_file): see write_synthetic.
  bool raw = false;
};

/// What write_synthetic wrote.
struct SyntheticSummary {
  std::string path;                 ///< the HDF5 file
  std::string raw_manifest;         ///< "<path>.raw.json", or "" without options.raw
  int64_t num_samples = 0;          ///< N
  std::vector<int64_t> sample_shape;  ///< [C, H, W] or [L]
  int64_t bytes = 0;                ///< bytes of /inputs (+ /attention_mask)
  int64_t mean_tokens = 0;          ///< tokens: rounded mean of the row lengths (0 for images)
};

/// Checks `options` (every field named above, out_path non-empty); throws frost::Error naming
/// the option (as frost-prep spells it: --rows, --shape, --seq-len, --min-len, --vocab-size,
/// --num-classes, --chunk-rows) and its value. Called by write_synthetic before anything is
/// allocated or written.
void validate_synthetic(const SyntheticOptions& options);

/// Generates the dataset in memory and writes options.out_path with write_dataset (atomic).
/// With options.raw, also (each atomically, core/fs.h) <path>.inputs.bin, <path>.labels.bin,
/// <path>.attention_mask.bin (tokens) -- the arrays row-major, little-endian, dtypes as in the
/// HDF5 file -- and <path>.raw.json:
///   {"format": "frost-raw-1", "num_samples": N, "num_classes": K, "input_kind": "image"|"tokens",
///    "mean": [...], "std": [...] (images), "arrays": {"inputs": {"file": "<name>.inputs.bin",
///    "dtype": "uint8"|"int32", "shape": [N, ...]}, "labels": {..., "dtype": "int64"},
///    "attention_mask": {..., "dtype": "uint8"} (tokens)}}
/// with file names relative to the JSON's folder. Memory: the whole dataset is held once.
/// Throws frost::Error (validate_synthetic, or the writer's errors naming the file).
SyntheticSummary write_synthetic(const SyntheticOptions& options);

}  // namespace frost::data
