// What frost-prep text records about the tokenizer of a token dataset (root attributes
// tokenizer and pad_id, docs/data.md), so that a run can check it against its encoder. No
// LibTorch.
#pragma once

#include <cstdint>
#include <string>

namespace frost::data {

/// The tokenizer attributes of one token dataset file (a shard; frost-prep text writes every
/// shard with the same attributes). Files written before these attributes existed, or by
/// other tools, have neither: `pad_id` is then -1 and `tokenizer` empty.
struct TokenizerRecord {
  std::string tokenizer;  ///< "wordpiece" | "byte_level_bpe" | "" (not recorded)
  int64_t pad_id = -1;    ///< the id padding positions hold; -1 = not recorded
};

/// Reads the root attributes tokenizer and pad_id of `path`. Takes the HDF5 lock (Note [HDF5
/// lock]); the caller must not hold it. Throws frost::Error naming `path` when the file cannot
/// be opened or an attribute has the wrong type.
TokenizerRecord read_tokenizer_record(const std::string& path);

/// Note [Padding id of a run]
/// --------------------------
/// An encoder's embeddings are indexed by the ids its own tokenizer wrote: data tokenized for
/// another model (BERT's WordPiece ids fed to RoBERTa, RoBERTa's byte-level BPE ids fed to
/// MiniLM) trains without any error, since every id is a valid row, and learns from noise. The
/// ids cannot be told apart, but the padding id can: WordPiece vocabularies pad with [PAD] = 0,
/// RoBERTa's with <pad> = 1, and the encoder's config.json names its pad_token_id (RoBERTa's
/// position ids also count from it). frost-train therefore refuses a data file whose recorded
/// pad_id differs from the encoder's pad_token_id, naming both and the file; files without the
/// record are accepted as before.

}  // namespace frost::data
