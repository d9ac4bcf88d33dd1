// Converting labelled text (CSV or JSON Lines) into Frost HDF5 token files (the library side
// of `frost-prep text`, see docs/data.md).
//
//   CSV (RFC 4180, a header naming the columns) or JSONL (one JSON object per line)
//     --WordPieceTokenizer--> [CLS] a [SEP] (or [CLS] a [SEP] b [SEP] for sentence pairs),
//     or --ByteLevelBpeTokenizer--> <s> a </s> (or <s> a </s></s> b </s>; RoBERTa),
//                             truncated to max_len (pairs: longest_first), padded with the
//                             vocabulary's pad token ([PAD]; RoBERTa's <pad>, id 1)
//     --seeded stratified split--> OUT/train.h5, OUT/test.h5
// (Note [Choosing the tokenizer] says which tokenizer a --vocab selects.)
//
// Each file: input_kind tokens, /inputs int32 [N, max_len], /attention_mask uint8 [N, max_len]
// (1 for the special tokens and pieces, 0 for padding), for WordPiece pairs /token_type_ids
// uint8 [N, max_len] (0 for [CLS] a [SEP], 1 for b [SEP], 0 for padding, as Hugging Face;
// byte-level BPE pairs have none: RoBERTa has one token type, and a file without
// /token_type_ids trains with all zeros), /labels int64 [N]; root attributes num_classes k,
// max_len (int64 [1]), vocab_size (int64 [1]), pad_id (int64 [1]), tokenizer (string:
// "wordpiece" or "byte_level_bpe"), lower_case (int64 [1]: 1 when the text was lower-cased),
// for byte-level BPE add_prefix_space (int64 [1]), label_values (string: JSON list of the
// original label of each class, e.g. ["-1","1"]) and, when every label is an integer,
// class_ids (int64 [k], like fashion-mnist's).
//
// No LibTorch here (frost::data).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "frost/data/csv.h"
#include "frost/data/prep.h"
#include "frost/data/task_targets.h"

namespace frost::data {

/// What to convert, and where to.
struct TextPrepOptions {
  std::string csv_path;       ///< input file: CSV (see read_csv) or JSONL (see read_jsonl)
  std::string format = "auto";  ///< csv | jsonl | auto (by extension: .jsonl, .json-lines ->
                                ///< jsonl, anything else -> csv)
  std::string text_field = "text";        ///< column (CSV) or key (JSONL) of the text
  std::string label_field = "label";      ///< column or key of the label
  std::string pair_field = "text_pair";   ///< column or key of the second text of a pair;
                                          ///< pairs when the CSV header has it or the first
                                          ///< JSONL record has it (then every record must)
  /// WordPiece vocab.txt (e.g. all-MiniLM-L6-v2's), byte-level BPE vocab.json (RoBERTa's, with
  /// merges_path) or tokenizer.json, or a model folder holding them (Note [Choosing the
  /// tokenizer]).
  std::string vocab_path;
  std::string merges_path;    ///< byte-level BPE merges.txt; empty: the one beside vocab.json
  /// Byte-level BPE: put a space before each text (step 3 of Note [Byte-level BPE pipeline]);
  /// unset: tokenizer.json's setting, else false (RoBERTa's default). Must not contradict
  /// tokenizer.json.
  std::optional<bool> add_prefix_space;
  std::string out_dir;        ///< created if missing; receives train.h5 and test.h5
  int64_t max_len = 128;      ///< tokens per row incl. [CLS] and [SEP](s), >= 2 (pairs: >= 3)
  double test_frac = 0.2;     ///< fraction of each class that goes to test.h5, in (0, 1)
  uint64_t seed = 0;          ///< seeds the shuffle that decides the split and the row order
  /// Lower-case and strip accents (an uncased vocabulary) or keep the text as it is (a cased
  /// one); unset: decided by decide_lower_case. Set and contradicting the model's tokenizer
  /// files: an error (Note [Cased or uncased]).
  std::optional<bool> lower_case;
  int64_t chunk_rows = 1024;  ///< HDF5 chunk rows (see WriteOptions::chunk_rows)
  /// classification: `label` is one class; multilabel / regression: `label` holds the row's
  /// '|'-separated labels or K numbers (parse_task_targets in task_targets.h), written as
  /// /targets; the split is then a seeded random one (no classes to stratify by).
  Task task = Task::kClassification;
};

/// Note [Cased or uncased]
/// -----------------------
/// An uncased BERT (all-MiniLM-L6-v2, bert-base-uncased) was trained on lower-cased,
/// accent-stripped text and has no capitalised tokens; a cased one (bert-base-cased) has
/// "The", "Paris"... and must see the text as written. Tokenizing with the wrong setting
/// gives valid ids and a quietly worse model, so the setting comes from the model's own files
/// where possible, in this order:
///   1. tokenizer_config.json beside vocab.txt: its boolean do_lower_case;
///   2. tokenizer.json beside vocab.txt: normalizer.lowercase of a BertNormalizer;
///   3. the option (--lower-case true|false), when neither file says;
///   4. the vocabulary itself: cased when at least 1 % of its whole-word tokens (not "##..."
///      and not "[...]") start with an upper-case letter (A-Z or a Unicode Lu code point);
///      an uncased vocabulary has none.
/// An option that contradicts a file (1 or 2) is an error naming both: a tokenizer file that
/// is wrong should be fixed, not overridden in silence. The decision and its source are
/// returned (and logged by frost-prep).
struct CaseDecision {
  bool lower_case = true;
  std::string source;  ///< e.g. "do_lower_case true in DIR/tokenizer_config.json"
};

/// Decides lower_case for `vocab_path` (Note [Cased or uncased]); `requested` is the option.
/// `tokens` are the vocabulary's tokens in id order (for step 4). Throws frost::Error naming
/// the file when a tokenizer file beside vocab.txt is not valid JSON or contradicts
/// `requested`.
CaseDecision decide_lower_case(const std::string& vocab_path, std::optional<bool> requested,
                               const std::vector<std::string>& tokens);

/// Note [Choosing the tokenizer]
/// ------------------------------
/// frost-prep text --vocab PATH [--merges merges.txt]:
///   * PATH a folder: vocab.json + merges.txt there -> byte-level BPE (RoBERTa, GPT-2); else
///     vocab.txt -> WordPiece (BERT, DistilBERT, MiniLM); else tokenizer.json -> byte-level BPE
///     when its model.type is BPE; else an error naming what was looked for;
///   * PATH whose name ends in tokenizer.json (tokenizer.json, roberta-base-tokenizer.json)
///     -> byte-level BPE from it (model, pre-tokenizer, normalizer and special tokens all in
///     the file);
///   * another PATH ending in .json -> a byte-level BPE vocab.json, with --merges or, without
///     it, the merges.txt beside it (an error when there is none);
///   * anything else -> a WordPiece vocab.txt (--merges is then an error).
/// The case of a WordPiece model follows Note [Cased or uncased]; a byte-level BPE is cased
/// (RoBERTa's tokenizer has no normalizer) unless tokenizer.json has a Lowercase normalizer or
/// --lower-case true asks (an option contradicting tokenizer.json is an error).
struct TokenizerFiles {
  bool bpe = false;            ///< byte-level BPE; false: WordPiece
  std::string vocab;           ///< vocab.txt or vocab.json ("" for tokenizer.json)
  std::string merges;          ///< merges.txt (BPE from vocab.json)
  std::string tokenizer_json;  ///< tokenizer.json (BPE from it)
};

/// Applies Note [Choosing the tokenizer] to --vocab and --merges. Throws frost::Error naming
/// the path for a --vocab that does not exist, a folder without a tokenizer, a vocab.json
/// without merges, or --merges with a WordPiece vocabulary.
TokenizerFiles find_tokenizer_files(const std::string& vocab_path, const std::string& merges_path);

/// The token layout of a row (before padding): WordPiece [CLS] a [SEP] (pairs: + b [SEP]),
/// byte-level BPE <s> a </s> (pairs: + </s> b </s>, RoBERTa's RobertaProcessing).
struct RowLayout {
  int32_t cls = -1, sep = -1;
  bool double_sep = false;  ///< </s></s> between a pair's texts (RoBERTa)
  /// Special tokens of a row: 2, pairs 3 (WordPiece) or 4 (byte-level BPE).
  int64_t specials(bool pairs) const { return pairs ? (double_sep ? 4 : 3) : 2; }
};

/// The ids of one row from the pieces of its text(s) (b == nullptr: one text), truncated to at
/// most max_len ids: one text by dropping pieces from the end, a pair by longest_first on
/// max_len - layout.specials(true); not padded. *second (when given) receives the index of the
/// first id of b's segment (WordPiece: b's first piece; the rest of the row from there has
/// token type 1), or the row's length for one text. Throws frost::Error when max_len is below
/// layout.specials(pairs).
std::vector<int32_t> layout_row(const RowLayout& layout, const std::vector<int32_t>& a,
                                const std::vector<int32_t>* b, int64_t max_len,
                                int64_t* second = nullptr);

/// One record of a JSONL input: the fields prep_text takes, as strings.
struct TextRecord {
  int64_t line = 0;  ///< 1-based line in the file
  std::string label, text, pair;
  bool has_pair = false;
};

/// Reads a JSON Lines file: one JSON object per line; blank lines (spaces, tabs, CR) are
/// skipped; a UTF-8 byte-order mark at the start is skipped. Each object must have `text_field`
/// (a non-empty string, not only white space), `label_field` and, when the first record has
/// `pair_field`, `pair_field` (a string, not empty or only white space); other keys are
/// ignored. The label, by `task`:
///   classification  a string or an integer (TextRecord::label: the string, or the integer's
///                   decimal text);
///   multilabel      a string of '|'-separated names, or an array of strings and integers
///                   (none containing '|'), e.g. ["sports", "politics"]; [] = no label;
///   regression      a number, a string of '|'-separated numbers, or an array of numbers;
/// arrays and numbers become the '|'-separated text that parse_task_targets reads (numbers as
/// nlohmann::json prints them: the shortest text that reads back to the same double).
/// Throws frost::Error naming the file and the line for: invalid JSON (with the parser's
/// message), a line that is not an object, a missing key, a value of the wrong type (for the
/// task), an empty text; and for a file that cannot be read or holds no record.
std::vector<TextRecord> read_jsonl(const std::string& path, const std::string& text_field,
                                   const std::string& label_field, const std::string& pair_field,
                                   Task task = Task::kClassification);

/// Truncates a pair of piece sequences of lengths n1 and n2 to fit `budget` pieces in total,
/// as Hugging Face `tokenizers` (the fast tokenizers) does for TruncationStrategy::LongestFirst
/// (utils/truncation.rs): with s = min(n1, n2), l = max(n1, n2), the shorter keeps s and the
/// longer max(s, budget - s) pieces; if that is still too many, the shorter keeps budget / 2
/// and the longer budget - budget / 2 (the second sequence counts as the longer on a tie).
/// Pieces are removed from the end. Returns the kept lengths {k1, k2}; k1 + k2 <= budget.
/// (The slow Python tokenizer removes one piece at a time from the longer sequence and from
/// the second on ties, which differs by one piece when both are long and n1 == n2.)
std::pair<int64_t, int64_t> longest_first(int64_t n1, int64_t n2, int64_t budget);

/// What prep_text wrote.
struct TextPrepSummary {
  PrepSplit train, test;
  /// The original label of each class: label i of the files is label_values[i].
  std::vector<std::string> label_values;
  bool integer_labels = false;  ///< every label was an integer (class_ids written)
  std::string format;           ///< "csv" or "jsonl", as read
  bool pairs = false;           ///< sentence pairs (WordPiece: /token_type_ids written)
  bool bpe = false;             ///< byte-level BPE (RoBERTa); false: WordPiece
  TokenizerFiles tokenizer_files;  ///< what --vocab selected
  bool add_prefix_space = false;   ///< byte-level BPE: as used
  int32_t pad_id = 0;              ///< the pad token's id (RoBERTa: 1)
  CaseDecision case_decision;   ///< how the text was cased (Note [Cased or uncased])
  std::vector<int64_t> train_per_class, test_per_class;  ///< rows of each class
  ///< (multilabel, regression: one entry, all rows)
  int64_t vocab_size = 0;
  int64_t max_len = 0;
  /// Per data row (file order): the length of the row before truncation, special tokens
  /// included (RowLayout).
  std::vector<int64_t> token_lengths;
  int64_t num_truncated = 0;                       ///< rows whose token_lengths > max_len
  double read_s = 0, tokenize_s = 0, write_s = 0;  ///< wall time of the three phases
};

/// Converts options.csv_path into options.out_dir/{train,test}.h5 (see the file comment).
///
/// Input: CSV with a header naming options.text_field and options.label_field (and maybe
/// options.pair_field) columns, or JSONL (read_jsonl); options.format decides which. A text
/// (or pair) that is empty or only white space is an error naming the line.
/// Labels: the label column's values, each non-empty valid UTF-8. If all are integers
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
