// Converting a labelled text CSV into Frost HDF5 token files (the library side of
// `frost-prep text`, see docs/data.md).
//
//   CSV (RFC 4180, header with `label` and `text` columns)
//     --WordPieceTokenizer--> [CLS] pieces [SEP], truncated to max_len, padded with [PAD]
//     --seeded stratified split--> OUT/train.h5, OUT/test.h5
//
// Each file: input_kind tokens, /inputs int32 [N, max_len], /attention_mask uint8 [N, max_len]
// (1 for [CLS], pieces and [SEP], 0 for padding), /labels int64 [N]; root attributes
// num_classes k, max_len (int64 [1]), vocab_size (int64 [1]), label_values (string: JSON list
// of the original label of each class, e.g. ["-1","1"]) and, when every label is an integer,
// class_ids (int64 [k], like fashion-mnist's).
//
// No LibTorch here (frost::data).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frost/data/csv.h"
#include "frost/data/prep.h"
#include "frost/data/task_targets.h"

namespace frost::data {

/// What to convert, and where to.
struct TextPrepOptions {
  std::string csv_path;       ///< input CSV (see read_csv) with columns `label` and `text`
  std::string vocab_path;     ///< WordPiece vocab.txt (e.g. all-MiniLM-L6-v2's)
  std::string out_dir;        ///< created if missing; receives train.h5 and test.h5
  int64_t max_len = 128;      ///< tokens per row incl. [CLS] and [SEP], >= 2
  double test_frac = 0.2;     ///< fraction of each class that goes to test.h5, in (0, 1)
  uint64_t seed = 0;          ///< seeds the shuffle that decides the split and the row order
  bool lower_case = true;     ///< uncased vocabulary (WordPieceTokenizer::from_vocab_file)
  int64_t chunk_rows = 1024;  ///< HDF5 chunk rows (see WriteOptions::chunk_rows)
  /// classification: `label` is one class; multilabel / regression: `label` holds the row's
  /// '|'-separated labels or K numbers (parse_task_targets in task_targets.h), written as
  /// /targets; the split is then a seeded random one (no classes to stratify by).
  Task task = Task::kClassification;
};

/// What prep_text wrote.
struct TextPrepSummary {
  PrepSplit train, test;
  /// The original label of each class: label i of the files is label_values[i].
  std::vector<std::string> label_values;
  bool integer_labels = false;  ///< every label was an integer (class_ids written)
  std::vector<int64_t> train_per_class, test_per_class;  ///< rows of each class
  ///< (multilabel, regression: one entry, all rows)
  int64_t vocab_size = 0;
  int64_t max_len = 0;
  /// Per CSV data row (file order): [CLS] + pieces + [SEP] before truncation.
  std::vector<int64_t> token_lengths;
  int64_t num_truncated = 0;                       ///< rows whose token_lengths > max_len
  double read_s = 0, tokenize_s = 0, write_s = 0;  ///< wall time of the three phases
};

/// Converts options.csv_path into options.out_dir/{train,test}.h5 (see the file comment).
///
/// Labels: the `label` column's values, each non-empty valid UTF-8. If all are integers
/// (optional sign, decimal digits, fitting int64) they are ordered numerically and equal
/// integers are one class ("01" and "1"); otherwise they are ordered by bytes. The k >= 2
/// distinct values become labels 0..k-1 in that order.
/// Split: a permutation of the rows (Fisher-Yates with std::mt19937_64 seeded by
/// std::seed_seq{seed_lo, seed_hi} and an unbiased bounded draw, as TrainSampler) fixes the
/// order; in that order, the first round(n_c * test_frac) rows of each class c go to test.h5,
/// the others to train.h5; each file keeps the permuted order. The same inputs and seed
/// give the same files on every platform.
/// Everything (CSV, labels, vocabulary, tokenization, split sizes) is read and checked before
/// anything is written; out_dir is created only then; each file is written atomically and if
/// writing test.h5 fails the train.h5 just written is removed, so a failed run leaves no
/// output file. Throws frost::Error naming the file, line and column at fault, or the option.
TextPrepSummary prep_text(const TextPrepOptions& options);

}  // namespace frost::data
