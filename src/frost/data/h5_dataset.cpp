// The dataset itself: H5Dataset (h5_dataset.h) over one or more shard files.
//
//   expand_paths      globs -> shard files, in order
//   H5Dataset::open   opens and validates every shard (open_shard, check_same_schema:
//                     h5_schema.cpp), then decides how rows are read (configure_reads:
//                     h5_row_access.cpp)
//   H5Dataset::read   labels from memory; rows copied from memory when every object asked for
//                     is mapped or decoded (Note [Direct reads], Note [Chunk cache]), otherwise
//                     sorted into runs and read with H5Dread (Note [Reading runs]), then
//                     scattered to the order asked for
//   storage           ObjectStorage of every object, for benchmarks, tests and logs
//
// The writer is h5_write.cpp; HDF5 plumbing (H5Lock, H5_CHECK, H5Id) is h5_util.h. Every HDF5
// call runs under hdf5_mutex() (Note [HDF5 lock] in h5_dataset.h): the public entry points
// take it.
#include "frost/data/h5_dataset.h"

#include <glob.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>

#include "frost/core/error.h"
#include "frost/data/h5_shard.h"
#include "frost/data/h5_util.h"

namespace frost::data {

using internal::BlockToDecode;
using internal::RowSource;
using internal::Shard;

// ---- expand_paths -------------------------------------------------------------------------

std::vector<std::string> expand_paths(const std::vector<std::string>& paths) {
  FROST_CHECK(!paths.empty(),
              "no dataset path given; pass a file or a glob such as "
              "'data/train-*.h5'");
  std::vector<std::string> out;
  for (const std::string& p : paths) {
    FROST_CHECK(!p.empty(), "an empty dataset path was given");
    if (p.find_first_of("*?[") == std::string::npos) {
      out.push_back(p);
      continue;
    }
    glob_t g{};
    const int rc = ::glob(p.c_str(), GLOB_ERR, nullptr, &g);
    std::vector<std::string> matches;
    if (rc == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    FROST_CHECK(rc != GLOB_NOMATCH, "dataset pattern '", p,
                "' matches no file; check the directory and the pattern");
    FROST_CHECK(rc == 0, "dataset pattern '", p, "': glob failed (",
                rc == GLOB_ABORTED ? "a directory could not be read" : "out of memory", ")");
    std::sort(matches.begin(), matches.end());  // byte order, independent of the locale
    out.insert(out.end(), matches.begin(), matches.end());
  }
  std::set<std::string> seen;
  for (const std::string& p : out)
    FROST_CHECK(seen.insert(p).second, "dataset file '", p,
                "' is listed more than once (directly or through a glob); its samples would "
                "be counted twice");
  return out;
}

// ---- H5Dataset -----------------------------------------------------------------------------

struct H5Dataset::Impl {
  std::vector<std::string> paths;
  std::vector<Shard> shards;        // in global row order
  std::vector<int64_t> shard_ends;  // shards[i] holds global rows [shard_ends[i-1], shard_ends[i])
  std::vector<int64_t> labels;      // all N labels, validated at open (classification)
  std::vector<float> targets;       // all N x K targets, validated at open (other tasks)
  DatasetInfo info;
  // Every shard's /inputs (/attention_mask) is read from memory: mapped or decoded.
  bool inputs_in_memory = false;
  bool masks_in_memory = false;
  bool any_decoded = false;  // some object is RowAccess::kDecoded
  bool releases = false;     // OpenOptions::release_over_budget took effect
  bool fits = true;          // the filtered data fits the decode budget
  int64_t decoded_row_bytes = 0;
  mutable internal::DecodedMemory memory;  // under the HDF5 lock

  const Shard& shard_of(int64_t row) const {
    const auto it = std::upper_bound(shard_ends.begin(), shard_ends.end(), row);
    return shards[static_cast<size_t>(it - shard_ends.begin())];
  }

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    H5Lock lock;
    shards.clear();  // closes the HDF5 handles under the lock
  }
};

H5Dataset::H5Dataset(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
H5Dataset::H5Dataset(H5Dataset&&) noexcept = default;
H5Dataset& H5Dataset::operator=(H5Dataset&&) noexcept = default;
H5Dataset::~H5Dataset() = default;

H5Dataset H5Dataset::open(const std::vector<std::string>& paths, const OpenOptions& options) {
  // Declared before the lock: if open fails after `impl` owns handles, the lock is released
  // first and ~Impl takes it again (it is not recursive).
  auto impl = std::make_unique<Impl>();
  impl->paths = expand_paths(paths);
  {
    H5Lock lock;
    std::vector<Shard> shards;  // destroyed (handles closed) under the lock on failure
    int64_t total = 0;
    for (const std::string& path : impl->paths) {
      Shard shard;
      DatasetInfo info = internal::open_shard(path, shard, impl->labels, impl->targets);
      if (shards.empty()) {
        impl->info = info;
      } else {
        internal::check_same_schema(impl->info, shards.front().path, info, path);
      }
      shard.first_row = total;
      total += shard.rows;
      shards.push_back(std::move(shard));
    }
    impl->info.num_samples = total;
    impl->releases = internal::configure_reads(shards, impl->info, options);
    impl->inputs_in_memory = impl->masks_in_memory = true;
    for (const Shard& shard : shards) {
      impl->shard_ends.push_back(shard.first_row + shard.rows);
      impl->inputs_in_memory = impl->inputs_in_memory && shard.inputs_rows.in_memory();
      impl->masks_in_memory =
          impl->masks_in_memory && shard.attention_mask.valid() && shard.mask_rows.in_memory();
      impl->any_decoded = impl->any_decoded || shard.inputs_rows.access == RowAccess::kDecoded ||
                          shard.mask_rows.access == RowAccess::kDecoded;
      int64_t row_bytes = 0;
      for (const RowSource* src : {&shard.inputs_rows, &shard.mask_rows}) {
        if (!src->filtered) continue;
        row_bytes += static_cast<int64_t>(src->row_bytes);
        if (src->access == RowAccess::kHdf5) impl->fits = false;
      }
      impl->decoded_row_bytes = std::max(impl->decoded_row_bytes, row_bytes);
    }
    if (impl->releases) impl->fits = false;
    impl->shards = std::move(shards);
  }
  return H5Dataset(std::move(impl));
}

std::vector<ObjectStorage> H5Dataset::storage() const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  std::vector<ObjectStorage> out;
  H5Lock lock;
  for (const Shard& shard : impl_->shards) {
    out.push_back(
        internal::describe_object(shard.inputs.get(), shard.path, "/inputs", shard.inputs_rows));
    if (shard.attention_mask.valid())
      out.push_back(internal::describe_object(shard.attention_mask.get(), shard.path,
                                              "/attention_mask", shard.mask_rows));
  }
  return out;
}

const DatasetInfo& H5Dataset::info() const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  return impl_->info;
}

int64_t H5Dataset::size() const { return info().num_samples; }

const std::vector<std::string>& H5Dataset::paths() const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  return impl_->paths;
}

std::vector<int64_t> H5Dataset::block_ends() const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  std::vector<int64_t> ends;
  for (const Shard& shard : impl_->shards) {
    FROST_ASSERT(shard.block_rows >= 1, "shard ", shard.path, " has no block size");
    for (int64_t r = shard.block_rows; r < shard.rows; r += shard.block_rows)
      ends.push_back(shard.first_row + r);
    ends.push_back(shard.first_row + shard.rows);
  }
  return ends;
}

int64_t H5Dataset::decoded_row_bytes() const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  return impl_->decoded_row_bytes;
}

bool H5Dataset::releases_blocks() const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  return impl_->releases;
}

bool H5Dataset::fits_decode_budget() const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  return impl_->fits;
}

void H5Dataset::release_blocks(const std::vector<int64_t>& rows) const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  const Impl& d = *impl_;
  if (!d.releases || rows.empty()) return;
  for (const int64_t row : rows)
    FROST_CHECK(row >= 0 && row < d.info.num_samples, "H5Dataset::release_blocks: row ", row,
                " is outside [0, ", d.info.num_samples, ") of '", d.paths.front(), "'");
  H5Lock lock;
  for (const int64_t row : rows) {
    const Shard& shard = d.shard_of(row);
    const int64_t r = row - shard.first_row;
    for (const RowSource* src : {&shard.inputs_rows, &shard.mask_rows})
      if (src->access == RowAccess::kDecoded && src->releasable)
        internal::release_block(*src, r / src->chunk_rows, d.memory);
  }
}

int64_t H5Dataset::decoded_held_bytes() const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  H5Lock lock;
  return impl_->memory.held;
}

int64_t H5Dataset::decoded_peak_bytes() const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  H5Lock lock;
  return impl_->memory.peak;
}

void H5Dataset::read(const std::vector<int64_t>& indices, void* inputs_out, int64_t* labels_out,
                     uint8_t* attention_mask_out, uint8_t* token_type_ids_out) const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  const Impl& d = *impl_;
  const int64_t n_total = d.info.num_samples;
  for (size_t i = 0; i < indices.size(); ++i)
    FROST_CHECK(indices[i] >= 0 &&
                        indices[i]<n_total, "H5Dataset::read: index ", indices[i], " (position ", i,
                                   " of the request) is outside [0, ", n_total, "), the rows of '",
                                   d.paths.front(), "'", d.paths.size()> 1
                    ? detail::str_cat(" and ", d.paths.size() - 1, " more shard(s)")
                    : std::string());
  FROST_CHECK(attention_mask_out == nullptr || d.info.has_attention_mask,
              "H5Dataset::read: an attention mask was requested but '", d.paths.front(),
              "' has no /attention_mask");
  FROST_CHECK(token_type_ids_out == nullptr || d.info.has_token_type_ids,
              "H5Dataset::read: token type ids were requested but '", d.paths.front(),
              "' has no /token_type_ids");
  if (indices.empty()) return;
  FROST_CHECK(inputs_out != nullptr, "H5Dataset::read: inputs_out is null");
  if (token_type_ids_out != nullptr) {  // from the spans kept at open
    const int64_t len = d.info.sample_numel();
    for (size_t i = 0; i < indices.size(); ++i) {
      const Shard& shard = d.shard_of(indices[i]);
      const auto r = static_cast<size_t>(indices[i] - shard.first_row);
      uint8_t* row = token_type_ids_out + static_cast<int64_t>(i) * len;
      std::fill(row, row + len, uint8_t{0});
      std::fill(row + shard.type_begin[r], row + shard.type_end[r], uint8_t{1});
    }
  }

  const int64_t row_numel = d.info.sample_numel();
  const auto row_bytes = static_cast<size_t>(row_numel * d.info.element_bytes());
  const auto mask_row_bytes = static_cast<size_t>(row_numel);  // uint8 [L]
  const bool want_mask = attention_mask_out != nullptr;
  FROST_CHECK(labels_out == nullptr || d.info.task_kind() == Task::kClassification,
              "H5Dataset::read: labels were requested but '", d.paths.front(), "' has task ",
              d.info.task, ", whose targets are read with read_targets");

  if (labels_out != nullptr)
    for (size_t i = 0; i < indices.size(); ++i)
      labels_out[i] = d.labels[static_cast<size_t>(indices[i])];

  // Decoded blocks this read needs and nobody has decoded yet (Note [Chunk cache]).
  if (d.any_decoded) {
    std::vector<BlockToDecode> missing;
    const hid_t mem_type = internal::memory_type(d.info.input_kind);
    for (const int64_t index : indices) {
      const Shard& shard = d.shard_of(index);
      const int64_t r = index - shard.first_row;
      const auto need = [&](const RowSource& src, hid_t dset, const char* name, hid_t type) {
        if (src.access != RowAccess::kDecoded) return;
        const int64_t block = r / src.chunk_rows;
        if (src.decoded[static_cast<size_t>(block)].load(std::memory_order_acquire) == nullptr)
          missing.push_back({&shard, &src, dset, name, type, block});
      };
      need(shard.inputs_rows, shard.inputs.get(), "inputs", mem_type);
      if (want_mask)
        need(shard.mask_rows, shard.attention_mask.get(), "attention_mask", H5T_NATIVE_UINT8);
    }
    if (!missing.empty()) {
      std::sort(missing.begin(), missing.end());
      missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
      internal::decode_blocks(missing, d.info.sample_shape, d.memory);
    }
  }

  // Every object asked for is in memory (Note [Direct reads], Note [Chunk cache]): each row is
  // copied to its place, in the order asked for; no sorting, no staging, no HDF5 lock.
  if (d.inputs_in_memory && (!want_mask || d.masks_in_memory)) {
    auto* out = static_cast<uint8_t*>(inputs_out);
    for (size_t i = 0; i < indices.size(); ++i) {
      const Shard& shard = d.shard_of(indices[i]);
      const int64_t r = indices[i] - shard.first_row;
      std::memcpy(out + i * row_bytes, shard.inputs_rows.row(r), row_bytes);
      if (want_mask)
        std::memcpy(attention_mask_out + i * mask_row_bytes, shard.mask_rows.row(r),
                    mask_row_bytes);
    }
    return;
  }

  // Rows to read: ascending and unique. Already so (eval batches) -> read straight into the
  // caller's buffers; otherwise read into staging buffers and scatter afterwards.
  bool ascending = true;
  for (size_t i = 1; i < indices.size() && ascending; ++i) ascending = indices[i] > indices[i - 1];
  std::vector<int64_t> rows;
  std::vector<uint8_t> stage_inputs, stage_mask;
  uint8_t* dst_inputs = static_cast<uint8_t*>(inputs_out);
  uint8_t* dst_mask = attention_mask_out;
  if (ascending) {
    rows = indices;
  } else {
    rows = indices;
    std::sort(rows.begin(), rows.end());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
    stage_inputs.resize(rows.size() * row_bytes);
    dst_inputs = stage_inputs.data();
    if (want_mask) {
      stage_mask.resize(rows.size() * mask_row_bytes);
      dst_mask = stage_mask.data();
    }
  }

  {
    H5Lock lock;
    const hid_t mem_type = internal::memory_type(d.info.input_kind);
    size_t begin = 0;
    for (const Shard& shard : d.shards) {
      if (begin == rows.size()) break;
      const int64_t shard_end = shard.first_row + shard.rows;
      size_t end = begin;
      while (end < rows.size() && rows[end] < shard_end) ++end;
      if (end == begin) continue;
      std::vector<int64_t> local(rows.begin() + static_cast<std::ptrdiff_t>(begin),
                                 rows.begin() + static_cast<std::ptrdiff_t>(end));
      for (int64_t& r : local) r -= shard.first_row;
      if (shard.inputs_rows.in_memory()) {
        internal::copy_rows(shard.inputs_rows, local, dst_inputs + begin * row_bytes);
      } else {
        internal::read_rows(shard.inputs.get(), "inputs", shard.path, mem_type, d.info.sample_shape,
                            local.data(), local.size(), dst_inputs + begin * row_bytes);
      }
      if (dst_mask != nullptr && shard.mask_rows.in_memory()) {
        internal::copy_rows(shard.mask_rows, local, dst_mask + begin * mask_row_bytes);
      } else if (dst_mask != nullptr) {
        internal::read_rows(shard.attention_mask.get(), "attention_mask", shard.path,
                            H5T_NATIVE_UINT8, d.info.sample_shape, local.data(), local.size(),
                            dst_mask + begin * mask_row_bytes);
      }
      begin = end;
    }
    FROST_ASSERT(begin == rows.size(), "rows past the last shard");
  }

  if (ascending) return;
  auto* out = static_cast<uint8_t*>(inputs_out);
  for (size_t i = 0; i < indices.size(); ++i) {
    const auto slot =
        static_cast<size_t>(std::lower_bound(rows.begin(), rows.end(), indices[i]) - rows.begin());
    std::memcpy(out + i * row_bytes, stage_inputs.data() + slot * row_bytes, row_bytes);
    if (want_mask)
      std::memcpy(attention_mask_out + i * mask_row_bytes,
                  stage_mask.data() + slot * mask_row_bytes, mask_row_bytes);
  }
}

void H5Dataset::read_targets(const std::vector<int64_t>& indices, float* targets_out) const {
  FROST_ASSERT(impl_ != nullptr, "use of a moved-from H5Dataset");
  const Impl& d = *impl_;
  FROST_CHECK(d.info.num_targets > 0, "H5Dataset::read_targets: '", d.paths.front(),
              "' has task ", d.info.task, ", which has no /targets");
  const auto k = static_cast<size_t>(d.info.num_targets);
  for (size_t i = 0; i < indices.size(); ++i) {
    FROST_CHECK(indices[i] >= 0 && indices[i] < d.info.num_samples,
                "H5Dataset::read_targets: index ", indices[i], " (position ", i,
                ") is outside [0, ", d.info.num_samples, ")");
    std::memcpy(targets_out + i * k, d.targets.data() + static_cast<size_t>(indices[i]) * k,
                k * sizeof(float));
  }
}

}  // namespace frost::data
