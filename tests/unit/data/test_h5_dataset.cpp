// H5Dataset / write_dataset: round trips (images, features, tokens with mask, multi-shard globs),
// reads in random order, atomic writes, the validation errors of H5Dataset::open, the chunk
// cache of filtered data (decodes counted by a pass-through filter) and direct reads.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "frost/core/error.h"
#include "frost/data/class_names.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/sampler.h"
#include "frost/data/h5_util.h"
#include "h5_test_util.h"
#include "test_util.h"

namespace {

using frost::testing::edit_file, frost::testing::error_of, frost::testing::feature_info,
    frost::testing::image_info, frost::testing::ImageData, frost::testing::make_temp_dir,
    frost::testing::replace_dataset, frost::testing::write_images, frost::testing::write_tokens;

using frost::data::DatasetInfo, frost::data::H5Dataset, frost::data::InputKind,
    frost::data::ObjectStorage, frost::data::OpenOptions, frost::data::RowAccess,
    frost::data::write_dataset;

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

// A small image dataset: n rows of [1, 2, 3] uint8, row i filled with (i*7 + j) % 251,
// labels i % num_classes.
ImageData make_images(int64_t n, int64_t num_classes = 10, int64_t offset = 0) {
  ImageData d;
  d.info = image_info(n, {1, 2, 3}, num_classes, {0.25}, {0.5});
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < 6; ++j) d.pixels.push_back(static_cast<uint8_t>(((i + offset) * 7 + j) % 251));
    d.labels.push_back((i + offset) % num_classes);
  }
  return d;
}

TEST(H5Dataset, WriteReadRoundTrip) {
  const std::string dir = make_temp_dir();
  const ImageData d = make_images(10);
  const H5Dataset ds = H5Dataset::open({write_images(dir + "/a.h5", d)});
  EXPECT_EQ(ds.size(), 10);
  EXPECT_EQ(ds.info().num_samples, 10);
  EXPECT_EQ(ds.info().sample_shape, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(ds.info().input_kind, InputKind::kImage);
  EXPECT_EQ(ds.info().num_classes, 10);
  EXPECT_EQ(ds.info().task, "classification");
  EXPECT_EQ(ds.info().mean, std::vector<double>{0.25});
  EXPECT_EQ(ds.info().std, std::vector<double>{0.5});
  EXPECT_FALSE(ds.info().has_attention_mask);

  std::vector<int64_t> all(10);
  for (int64_t i = 0; i < 10; ++i) all[static_cast<size_t>(i)] = i;
  std::vector<uint8_t> pixels(60);
  std::vector<int64_t> labels(10);
  ds.read(all, pixels.data(), labels.data());
  EXPECT_EQ(pixels, d.pixels);
  EXPECT_EQ(labels, d.labels);
  EXPECT_EQ(dir_entries(dir), std::vector<std::string>{"a.h5"});  // no temporary file left
}

TEST(H5Dataset, ChunksAlongSampleAxis) {
  const std::string dir = make_temp_dir();
  for (const auto& [chunk_rows, want] : {std::pair<int64_t, hsize_t>{4, 4}, {1024, 10}}) {
    const std::string path = write_images(dir + "/c" + std::to_string(chunk_rows) + ".h5",
                                          make_images(10), chunk_rows);
    edit_file(path, [&](hid_t file) {
      const hid_t dset = H5Dopen2(file, "inputs", H5P_DEFAULT);
      const hid_t dcpl = H5Dget_create_plist(dset);
      ASSERT_EQ(H5Pget_layout(dcpl), H5D_CHUNKED);
      hsize_t chunk[4] = {};
      ASSERT_EQ(H5Pget_chunk(dcpl, 4, chunk), 4);
      EXPECT_EQ(chunk[0], want);
      EXPECT_EQ(chunk[1], 1u);
      EXPECT_EQ(chunk[3], 3u);
      EXPECT_EQ(H5Pget_nfilters(dcpl), 0);  // no compression
      H5Pclose(dcpl);
      H5Dclose(dset);
    });
  }
}

TEST(H5Dataset, StorageDescribesEachObject) {
  const std::string dir = make_temp_dir();
  write_images(dir + "/part-0.h5", make_images(10), 4);
  write_images(dir + "/part-1.h5", make_images(3), 4);
  const H5Dataset ds = H5Dataset::open({dir + "/part-*.h5"});
  const std::vector<frost::data::ObjectStorage> st = ds.storage();
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0].path, dir + "/part-0.h5");
  EXPECT_EQ(st[0].object, "/inputs");
  EXPECT_EQ(st[0].layout, "chunked");
  EXPECT_EQ(st[0].chunk_rows, 4);
  EXPECT_EQ(st[0].chunk_bytes, 4 * 6);
  EXPECT_EQ(st[0].num_chunks, 3);
  EXPECT_TRUE(st[0].filters.empty());
  EXPECT_EQ(st[0].stored_bytes, 3 * 4 * 6);
  EXPECT_EQ(st[1].path, dir + "/part-1.h5");
  EXPECT_EQ(st[1].chunk_rows, 3);  // min(chunk_rows, N)
  EXPECT_EQ(st[1].num_chunks, 1);
}

// ---- chunk cache of filtered data (Note [Chunk cache] in h5_row_access.cpp) ---------------

// A pass-through HDF5 filter that counts how often a chunk is decoded (filter ids 256-511 are
// reserved for testing). Registered once per process, under the HDF5 lock.
std::atomic<int64_t> g_chunk_decodes{0};
constexpr H5Z_filter_t kCountingFilter = 300;

size_t counting_filter(unsigned flags, size_t, const unsigned[], size_t nbytes, size_t*, void**) {
  if ((flags & H5Z_FLAG_REVERSE) != 0) ++g_chunk_decodes;
  return nbytes;
}

void register_counting_filter() {
  static const H5Z_class2_t kClass = {H5Z_CLASS_T_VERS, kCountingFilter, 1, 1,
                                      "frost test: count decodes", nullptr, nullptr,
                                      counting_filter};
  frost::data::H5Lock lock;
  ASSERT_GE(H5Zregister(&kClass), 0);
}

// Replaces /inputs of `path` with one of `dims` (uint8) holding `pixels`, created with `dcpl`
// and stored as `file_type`; only rows [0, rows_written) are written (-1: all).
void replace_inputs(const std::string& path, const std::vector<hsize_t>& dims, hid_t dcpl,
                    const std::vector<uint8_t>& pixels, hid_t file_type = H5T_STD_U8LE,
                    int64_t rows_written = -1) {
  edit_file(path, [&](hid_t file) {
    ASSERT_GE(H5Ldelete(file, "inputs", H5P_DEFAULT), 0);
    const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    const hid_t dset = H5Dcreate2(file, "inputs", file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ASSERT_GE(dset, 0);
    std::vector<hsize_t> count = dims;
    if (rows_written >= 0) count[0] = static_cast<hsize_t>(rows_written);
    if (count[0] > 0) {
      const std::vector<hsize_t> start(dims.size(), 0);
      H5Sselect_hyperslab(space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
      const hid_t mspace = H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr);
      ASSERT_GE(H5Dwrite(dset, H5T_NATIVE_UINT8, mspace, space, H5P_DEFAULT, pixels.data()), 0);
      H5Sclose(mspace);
    }
    H5Dclose(dset);
    H5Sclose(space);
  });
}

// Rows of 1x32x32 = 1 KiB, 64 rows (64 KiB) per chunk, passed through the counting filter.
constexpr int64_t kFilteredRowBytes = 1024, kFilteredChunkRows = 64;

// A Frost image file of n rows [1, 32, 32] whose /inputs goes through the counting filter;
// row i is filled with (i*7 + j) % 251. Returns the pixels.
std::vector<uint8_t> write_filtered_images(const std::string& path, int64_t n) {
  register_counting_filter();
  ImageData d = make_images(n);
  write_images(path, d, kFilteredChunkRows);
  std::vector<uint8_t> pixels(static_cast<size_t>(n * kFilteredRowBytes));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < kFilteredRowBytes; ++j)
      pixels[static_cast<size_t>(i * kFilteredRowBytes + j)] = static_cast<uint8_t>((i * 7 + j) % 251);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  const hsize_t chunk[4] = {static_cast<hsize_t>(kFilteredChunkRows), 1, 32, 32};
  H5Pset_chunk(dcpl, 4, chunk);
  H5Pset_filter(dcpl, kCountingFilter, H5Z_FLAG_MANDATORY, 0, nullptr);
  replace_inputs(path, {static_cast<hsize_t>(n), 1, 32, 32}, dcpl, pixels);
  H5Pclose(dcpl);
  return pixels;
}

// Reads `batch` and checks every row against `pixels`.
void expect_rows(const H5Dataset& ds, const std::vector<int64_t>& batch,
                 const std::vector<uint8_t>& pixels, int64_t row_bytes) {
  std::vector<uint8_t> out(batch.size() * static_cast<size_t>(row_bytes));
  ds.read(batch, out.data(), nullptr);
  for (size_t k = 0; k < batch.size(); ++k)
    ASSERT_TRUE(std::equal(out.begin() + static_cast<std::ptrdiff_t>(k) * row_bytes,
                           out.begin() + static_cast<std::ptrdiff_t>(k + 1) * row_bytes,
                           pixels.begin() + batch[k] * row_bytes))
        << "position " << k << ", row " << batch[k];
}

// Shuffled batches of `batch_size` covering [0, n) once.
std::vector<std::vector<int64_t>> shuffled_batches(int64_t n, size_t batch_size, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  std::vector<std::vector<int64_t>> batches;
  for (size_t i = 0; i < order.size(); i += batch_size)
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(i),
                         order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), i + batch_size)));
  return batches;
}

TEST(H5Dataset, FilteredChunksAreDecodedOnceWhileTheyFitTheCache) {
  // 2048 rows = 32 chunks of 64 KiB = 2 MiB decoded: all fit the default budget. Shuffled
  // batches of 64 touch ~20 chunks each; with a cache of a few chunks (HDF5's default 1 MiB,
  // or Frost's former 4 chunks) the 32 batches of an epoch decoded ~600 chunks.
  const std::string path = make_temp_dir() + "/f.h5";
  const std::vector<uint8_t> pixels = write_filtered_images(path, 2048);
  const H5Dataset ds = H5Dataset::open({path});
  const std::vector<ObjectStorage> st = ds.storage();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].filters, (std::vector<std::string>{"frost test: count decodes"}));
  EXPECT_EQ(st[0].num_chunks, 32);
  EXPECT_EQ(st[0].access, RowAccess::kDecoded);  // kept decoded by Frost, not by HDF5
  EXPECT_EQ(st[0].chunk_cache_bytes, 0);
  EXPECT_EQ(st[0].decoded_bytes, 2048 * 1024);
  EXPECT_EQ(st[0].decoded_held_bytes, 0);
  g_chunk_decodes = 0;
  for (uint64_t epoch = 0; epoch < 2; ++epoch)
    for (const auto& batch : shuffled_batches(2048, 64, epoch)) expect_rows(ds, batch, pixels, kFilteredRowBytes);
  EXPECT_EQ(g_chunk_decodes.load(), 32);  // each chunk once, in the first epoch
  EXPECT_EQ(ds.storage()[0].decoded_held_bytes, 2048 * 1024);
}

TEST(H5Dataset, DecodedChunksAreSharedByThreads) {
  // 4 threads read shuffled batches at once: every row right, every chunk decoded once.
  const std::string path = make_temp_dir() + "/f.h5";
  const std::vector<uint8_t> pixels = write_filtered_images(path, 2048);
  const H5Dataset ds = H5Dataset::open({path});
  g_chunk_decodes = 0;
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (const auto& batch : shuffled_batches(2048, 50, static_cast<uint64_t>(t))) {
        std::vector<uint8_t> out(batch.size() * kFilteredRowBytes);
        ds.read(batch, out.data(), nullptr);
        for (size_t k = 0; k < batch.size(); ++k)
          failures[static_cast<size_t>(t)] +=
              !std::equal(out.begin() + static_cast<std::ptrdiff_t>(k) * kFilteredRowBytes,
                          out.begin() + static_cast<std::ptrdiff_t>(k + 1) * kFilteredRowBytes,
                          pixels.begin() + batch[k] * kFilteredRowBytes);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, (std::vector<int>{0, 0, 0, 0}));
  EXPECT_EQ(g_chunk_decodes.load(), 32);
}

TEST(H5Dataset, FilteredChunkIsDecodedOncePerBatchWithTheSmallestCache) {
  // A budget of 0 still caches one chunk: the rows of a batch are read in ascending order, so
  // each chunk the batch touches is decoded once, not once per row.
  const std::string path = make_temp_dir() + "/f.h5";
  const std::vector<uint8_t> pixels = write_filtered_images(path, 2048);
  OpenOptions options;
  options.chunk_cache_bytes = 0;
  const H5Dataset ds = H5Dataset::open({path}, options);
  EXPECT_EQ(ds.storage()[0].access, RowAccess::kHdf5);
  EXPECT_EQ(ds.storage()[0].chunk_cache_bytes, 64 * 1024);
  for (const auto& batch : shuffled_batches(2048, 100, 7)) {
    std::set<int64_t> chunks;
    for (int64_t row : batch) chunks.insert(row / kFilteredChunkRows);
    g_chunk_decodes = 0;
    expect_rows(ds, batch, pixels, kFilteredRowBytes);
    EXPECT_EQ(g_chunk_decodes.load(), static_cast<int64_t>(chunks.size()));
  }
}

TEST(H5Dataset, ChunkCacheBudgetIsSharedByShardsBySize) {
  // Decoded: 2 MiB + 1 MiB; a budget of 1.5 MiB gives HDF5 caches of 1 MiB and 0.5 MiB.
  const std::string dir = make_temp_dir();
  write_filtered_images(dir + "/part-0.h5", 2048);
  write_filtered_images(dir + "/part-1.h5", 1024);
  OpenOptions options;
  options.chunk_cache_bytes = 3 << 19;
  const std::vector<ObjectStorage> st = H5Dataset::open({dir + "/part-*.h5"}, options).storage();
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0].access, RowAccess::kHdf5);  // 3 MiB do not fit 1.5 MiB
  EXPECT_EQ(st[0].chunk_cache_bytes, 1 << 20);
  EXPECT_EQ(st[1].chunk_cache_bytes, 1 << 19);
  EXPECT_EQ(st[0].chunk_cache_slots, 1601);  // 16 chunks fit: the smallest prime >= 1600
  EXPECT_EQ(st[1].chunk_cache_slots, 809);   // 8 chunks fit
}

TEST(H5Dataset, OverBudgetBlocksAreDecodedOnceAndReleasedWithTheBlockShuffle) {
  // 2048 rows = 32 chunks of 64 KiB (2 MiB decoded) with a budget of 512 KiB: with
  // release_over_budget the chunks are decoded by Frost (not HDF5's cache) and released by the
  // reader. Read a block-shuffled epoch of 2 ranks as BatchLoader does (release each block after
  // the last batch that needs it): every row right, every chunk decoded once per epoch and
  // rank (twice for the <= 2 chunks split between the ranks), never more than the budget held.
  const std::string path = make_temp_dir() + "/f.h5";
  const std::vector<uint8_t> pixels = write_filtered_images(path, 2048);
  OpenOptions options;
  options.chunk_cache_bytes = 512 << 10;
  options.release_over_budget = true;
  const H5Dataset ds = H5Dataset::open({path}, options);
  EXPECT_TRUE(ds.releases_blocks());
  EXPECT_FALSE(ds.fits_decode_budget());
  EXPECT_EQ(ds.storage()[0].access, RowAccess::kDecoded);
  EXPECT_EQ(ds.storage()[0].chunk_cache_bytes, 0);
  EXPECT_EQ(ds.decoded_row_bytes(), kFilteredRowBytes);
  const std::vector<int64_t> ends = ds.block_ends();
  ASSERT_EQ(ends.size(), 32u);
  for (size_t b = 0; b < ends.size(); ++b) EXPECT_EQ(ends[b], 64 * static_cast<int64_t>(b + 1));
  const int64_t window = frost::data::block_shuffle_window(options.chunk_cache_bytes,
                                                           ds.decoded_row_bytes(), 64);
  EXPECT_EQ(window, 512 - 128);
  int64_t decodes = 0;
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    for (int rank = 0; rank < 2; ++rank) {
      const frost::data::TrainSampler sampler(2048, 2, rank, 32, 5, false,
                                              frost::data::BlockLayout{ends, window});
      const auto batches = sampler.epoch_batches(epoch);
      std::vector<int64_t> last(ends.size(), -1);
      std::set<int64_t> blocks;
      for (size_t k = 0; k < batches.size(); ++k)
        for (int64_t i : batches[k]) {
          last[static_cast<size_t>(i / 64)] = static_cast<int64_t>(k);
          blocks.insert(i / 64);
        }
      g_chunk_decodes = 0;
      for (size_t k = 0; k < batches.size(); ++k) {
        expect_rows(ds, batches[k], pixels, kFilteredRowBytes);
        std::vector<int64_t> done;
        for (size_t b = 0; b < ends.size(); ++b)
          if (last[b] == static_cast<int64_t>(k)) done.push_back(static_cast<int64_t>(b) * 64);
        ds.release_blocks(done);
      }
      EXPECT_EQ(g_chunk_decodes.load(), static_cast<int64_t>(blocks.size()));
      EXPECT_LE(blocks.size(), 17u);  // 16 whole chunks, one of them maybe split
      decodes += g_chunk_decodes.load();
      EXPECT_EQ(ds.decoded_held_bytes(), 0);
    }
  }
  EXPECT_LE(decodes, 2 * (32 + 1));
  EXPECT_GT(ds.decoded_peak_bytes(), 0);
  EXPECT_LE(ds.decoded_peak_bytes(), options.chunk_cache_bytes);
}

TEST(H5Dataset, ReleaseIsANoOpUnlessAskedForAndOverBudget) {
  const std::string dir = make_temp_dir();
  const std::vector<uint8_t> pixels = write_filtered_images(dir + "/f.h5", 256);
  OpenOptions options;
  options.release_over_budget = true;  // but 256 KiB fit the default budget: kept
  const H5Dataset fits = H5Dataset::open({dir + "/f.h5"}, options);
  EXPECT_FALSE(fits.releases_blocks());
  EXPECT_TRUE(fits.fits_decode_budget());
  expect_rows(fits, {0, 100, 255}, pixels, kFilteredRowBytes);
  fits.release_blocks({0, 100, 255});
  EXPECT_EQ(fits.decoded_held_bytes(), 3 * 64 * kFilteredRowBytes);
  options.release_over_budget = false;  // over budget, not asked for: HDF5's chunk cache
  options.chunk_cache_bytes = 64 << 10;
  const H5Dataset hdf5 = H5Dataset::open({dir + "/f.h5"}, options);
  EXPECT_FALSE(hdf5.releases_blocks());
  EXPECT_FALSE(hdf5.fits_decode_budget());
  EXPECT_EQ(hdf5.storage()[0].access, RowAccess::kHdf5);
  options.release_over_budget = true;
  const H5Dataset released = H5Dataset::open({dir + "/f.h5"}, options);
  EXPECT_THROW(released.release_blocks({256}), frost::Error);
}

TEST(H5Dataset, BlockEndsFollowEveryShardsChunks) {
  // Chunks of every shard take part: 100 rows in chunks of 64, then 30 rows in one chunk, then
  // an unchunked (contiguous) shard in blocks of kBlockRowsUnchunked.
  const std::string dir = make_temp_dir();
  write_images(dir + "/part-0.h5", make_images(100), 64);
  write_images(dir + "/part-1.h5", make_images(30), 64);
  write_images(dir + "/part-2.h5", make_images(2500), 64);
  edit_file(dir + "/part-2.h5", [&](hid_t file) {
    const ImageData d = make_images(2500);
    ASSERT_GE(H5Ldelete(file, "inputs", H5P_DEFAULT), 0);
    const hsize_t dims[4] = {2500, 1, 2, 3};
    const hid_t space = H5Screate_simple(4, dims, nullptr);
    const hid_t dset =
        H5Dcreate2(file, "inputs", H5T_STD_U8LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(H5Dwrite(dset, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, d.pixels.data()), 0);
    H5Dclose(dset);
    H5Sclose(space);
  });
  const H5Dataset ds = H5Dataset::open({dir + "/part-*.h5"});
  EXPECT_EQ(ds.block_ends(), (std::vector<int64_t>{64, 100, 130, 130 + 1024, 130 + 2048, 2630}));
  EXPECT_EQ(ds.decoded_row_bytes(), 0);  // nothing filtered
  EXPECT_TRUE(ds.fits_decode_budget());
}

// ---- file locking (make_read_fapl, docs/data.md) -------------------------------------------

TEST(H5Dataset, OpensAFileAnotherProcessHoldsLockedForWriting) {
  // HDF5 (1.10.7+) takes flock() on every file it opens: exclusive for writing, shared for
  // reading. A writer's exclusive lock (flock(LOCK_EX), as HDF5 takes it) made read-only opens
  // fail ("unable to lock file"); on some cluster file systems flock itself fails or hangs.
  // Frost opens its read-only inputs without locking: the open succeeds and the rows are right.
  // A second open file description in this process conflicts with flock exactly as another
  // process does.
  ::unsetenv("HDF5_USE_FILE_LOCKING");  // HDF5's variable would override the property
  const std::string path = make_temp_dir() + "/locked.h5";
  const ImageData d = make_images(10);
  write_images(path, d);
  const int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  {
    // The test can fail: a default open, with HDF5's locking, is refused while the lock is held.
    frost::data::H5Lock lock;
    frost::data::H5Id fapl = frost::data::make_fapl(path);
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
    EXPECT_LT(file, 0) << "HDF5 opened a file locked by a writer: locking is off here";
    if (file >= 0) H5Fclose(file);
    H5Eclear2(H5E_DEFAULT);
  }
  const H5Dataset ds = H5Dataset::open({path});
  std::vector<uint8_t> px(6);
  std::vector<int64_t> y(1);
  ds.read({7}, px.data(), y.data());
  EXPECT_TRUE(std::equal(px.begin(), px.end(), d.pixels.begin() + 7 * 6));
  EXPECT_EQ(y[0], d.labels[7]);
  EXPECT_NO_THROW(frost::data::read_class_names(path, d.info.num_classes));
  {
    frost::data::H5Lock lock;
    frost::data::H5Id fapl = frost::data::make_read_fapl(path);
    hbool_t use = 1, ignore = 0;
    ASSERT_GE(H5Pget_file_locking(fapl.get(), &use, &ignore), 0);
    EXPECT_FALSE(use);
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
}

// ---- direct reads (Note [Direct reads] in h5_row_access.cpp) ---------------------------

TEST(H5Dataset, DirectReadsOfFrostFiles) {
  const std::string dir = make_temp_dir();
  const ImageData d = make_images(40);
  const H5Dataset ds = H5Dataset::open({write_images(dir + "/a.h5", d, 8)});
  const std::vector<ObjectStorage> st = ds.storage();
  EXPECT_EQ(st[0].access, RowAccess::kMapped);
  EXPECT_EQ(st[0].chunk_cache_bytes, 0);
  for (const auto& batch : shuffled_batches(40, 7, 3)) expect_rows(ds, batch, d.pixels, 6);
  OpenOptions off;
  off.direct_reads = false;
  const H5Dataset via_hdf5 = H5Dataset::open({dir + "/a.h5"}, off);
  EXPECT_EQ(via_hdf5.storage()[0].access, RowAccess::kHdf5);
  for (const auto& batch : shuffled_batches(40, 7, 3)) expect_rows(via_hdf5, batch, d.pixels, 6);
}

TEST(H5Dataset, DirectReadsOnlyWhereRowsAreStoredAsRead) {
  // Each variant of /inputs (30 rows of [1, 2, 3]) is read correctly, and only the rows stored
  // as they are read are mapped.
  struct Variant {
    const char* name;
    RowAccess access;
    std::function<hid_t()> dcpl;
    hid_t file_type;
    int64_t rows_written;
  };
  const auto chunked = [](std::vector<hsize_t> chunk) {
    return [chunk] {
      const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
      H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
      return dcpl;
    };
  };
  const std::vector<Variant> variants = {
      {"chunks of whole rows", RowAccess::kMapped, chunked({8, 1, 2, 3}), H5T_STD_U8LE, -1},
      {"contiguous", RowAccess::kMapped, [] { return H5Pcreate(H5P_DATASET_CREATE); },
       H5T_STD_U8LE, -1},
      {"chunks split rows", RowAccess::kHdf5, chunked({8, 1, 1, 3}), H5T_STD_U8LE, -1},
      {"big-endian pixels (a type HDF5 converts)", RowAccess::kHdf5, chunked({8, 1, 2, 3}),
       H5T_STD_U8BE, -1},
      {"compressed", RowAccess::kDecoded,
       [chunked] {
         const hid_t dcpl = chunked({8, 1, 2, 3})();
         H5Pset_deflate(dcpl, 4);
         return dcpl;
       },
       H5T_STD_U8LE, -1},
      {"chunks never written (fill value 0)", RowAccess::kHdf5, chunked({8, 1, 2, 3}),
       H5T_STD_U8LE, 12},
      {"compressed, chunks split rows", RowAccess::kDecoded,
       [chunked] {
         const hid_t dcpl = chunked({8, 1, 1, 2})();
         H5Pset_deflate(dcpl, 4);
         return dcpl;
       },
       H5T_STD_U8LE, -1},
  };
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.name);
    const std::string dir = make_temp_dir();
    ImageData d = make_images(30);
    const std::string path = write_images(dir + "/a.h5", d);
    const hid_t dcpl = v.dcpl();
    replace_inputs(path, {30, 1, 2, 3}, dcpl, d.pixels, v.file_type, v.rows_written);
    H5Pclose(dcpl);
    if (v.rows_written >= 0)  // rows in unwritten chunks read as 0; rows 12..15 share a chunk
      std::fill(d.pixels.begin() + 16 * 6, d.pixels.end(), 0);
    if (v.rows_written >= 0)
      std::fill(d.pixels.begin() + v.rows_written * 6, d.pixels.begin() + 16 * 6, 0);
    const H5Dataset ds = H5Dataset::open({path});
    EXPECT_EQ(ds.storage()[0].access, v.access);
    for (const auto& batch : shuffled_batches(30, 7, 5)) expect_rows(ds, batch, d.pixels, 6);
  }
}

TEST(H5Dataset, FileWithUserBlockIsReadThroughHdf5) {
  // Chunk addresses are relative to the end of a user block; such files are not mapped.
  const std::string dir = make_temp_dir();
  const ImageData d = make_images(20);
  write_images(dir + "/plain.h5", d);
  const std::string path = dir + "/ub.h5";
  {
    frost::data::H5Lock lock;
    const hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    ASSERT_GE(H5Pset_userblock(fcpl, 512), 0);
    const hid_t dst = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    const hid_t src = H5Fopen((dir + "/plain.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    ASSERT_GE(dst, 0);
    ASSERT_GE(src, 0);
    for (const char* name : {"inputs", "labels"})
      ASSERT_GE(H5Ocopy(src, name, dst, name, H5P_DEFAULT, H5P_DEFAULT), 0);
    const auto copy_attr = [&](const char* name) {
      const hid_t a = H5Aopen(src, name, H5P_DEFAULT);
      const hid_t type = H5Aget_type(a), space = H5Aget_space(a);
      std::vector<uint8_t> buf(H5Tget_size(type) * static_cast<size_t>(H5Sget_simple_extent_npoints(space)) + 64);
      H5Aread(a, type, buf.data());
      const hid_t b = H5Acreate2(dst, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(b, type, buf.data());
      if (H5Tis_variable_str(type) > 0) H5Dvlen_reclaim(type, space, H5P_DEFAULT, buf.data());
      H5Aclose(b);
      H5Sclose(space);
      H5Tclose(type);
      H5Aclose(a);
    };
    for (const char* name : {"frost_schema", "task", "num_classes", "input_kind", "mean", "std"})
      copy_attr(name);
    H5Fclose(src);
    H5Fclose(dst);
    H5Pclose(fcpl);
  }
  const H5Dataset ds = H5Dataset::open({path});
  EXPECT_EQ(ds.storage()[0].access, RowAccess::kHdf5);
  for (const auto& batch : shuffled_batches(20, 6, 1)) expect_rows(ds, batch, d.pixels, 6);
}

TEST(H5Dataset, ShardsReadInDifferentWaysMix) {
  const std::string dir = make_temp_dir();
  const ImageData a = make_images(13), b = make_images(11, 10, 13);
  write_images(dir + "/part-0.h5", a);
  const std::string compressed = write_images(dir + "/part-1.h5", b);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  const hsize_t chunk[4] = {4, 1, 2, 3};
  H5Pset_chunk(dcpl, 4, chunk);
  H5Pset_deflate(dcpl, 1);
  replace_inputs(compressed, {11, 1, 2, 3}, dcpl, b.pixels);
  H5Pclose(dcpl);
  std::vector<uint8_t> pixels = a.pixels;
  pixels.insert(pixels.end(), b.pixels.begin(), b.pixels.end());
  for (const int64_t budget : {int64_t{1} << 20, int64_t{0}}) {  // decoded, then H5Dread
    OpenOptions options;
    options.chunk_cache_bytes = budget;
    const H5Dataset ds = H5Dataset::open({dir + "/part-*.h5"}, options);
    const std::vector<ObjectStorage> st = ds.storage();
    EXPECT_EQ(st[0].access, RowAccess::kMapped);
    EXPECT_EQ(st[1].access, budget > 0 ? RowAccess::kDecoded : RowAccess::kHdf5);
    for (const auto& batch : shuffled_batches(24, 5, 2)) expect_rows(ds, batch, pixels, 6);
  }
}

TEST(H5Dataset, RandomOrderReadEqualsDirect) {
  const std::string dir = make_temp_dir();
  const ImageData d = make_images(40);
  const H5Dataset ds = H5Dataset::open({write_images(dir + "/a.h5", d, 8)});
  std::mt19937_64 rng(1);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<int64_t> idx(static_cast<size_t>(1 + trial));
    for (auto& i : idx) i = static_cast<int64_t>(rng() % 40);  // duplicates allowed
    std::vector<uint8_t> pixels(idx.size() * 6);
    std::vector<int64_t> labels(idx.size());
    ds.read(idx, pixels.data(), labels.data());
    for (size_t k = 0; k < idx.size(); ++k) {
      // Direct: a one-row read, and the known contents.
      std::vector<uint8_t> one(6);
      int64_t label = -1;
      ds.read({idx[k]}, one.data(), &label);
      const auto row = d.pixels.begin() + idx[k] * 6;
      EXPECT_TRUE(std::equal(one.begin(), one.end(), row)) << "row " << idx[k];
      EXPECT_TRUE(std::equal(pixels.begin() + static_cast<std::ptrdiff_t>(k * 6),
                             pixels.begin() + static_cast<std::ptrdiff_t>(k * 6 + 6), row))
          << "position " << k << " row " << idx[k];
      EXPECT_EQ(labels[k], d.labels[static_cast<size_t>(idx[k])]);
      EXPECT_EQ(label, labels[k]);
    }
  }
}

TEST(H5Dataset, MultiShardGlobReadsAcrossShards) {
  const std::string dir = make_temp_dir();
  // Shards of 5, 1 and 7 rows, written out of name order; the glob orders them by name.
  const ImageData a = make_images(5, 10, 0), b = make_images(1, 10, 5), c = make_images(7, 10, 6);
  write_images(dir + "/part-2.h5", c, 3);
  write_images(dir + "/part-0.h5", a, 3);
  write_images(dir + "/part-1.h5", b, 3);
  const ImageData all = make_images(13);
  const H5Dataset ds = H5Dataset::open({dir + "/part-*.h5"});
  EXPECT_EQ(ds.size(), 13);
  EXPECT_EQ(ds.paths(), (std::vector<std::string>{dir + "/part-0.h5", dir + "/part-1.h5",
                                                 dir + "/part-2.h5"}));
  const std::vector<int64_t> idx{12, 0, 5, 4, 6, 11, 3, 5, 7};
  std::vector<uint8_t> pixels(idx.size() * 6);
  std::vector<int64_t> labels(idx.size());
  ds.read(idx, pixels.data(), labels.data());
  for (size_t k = 0; k < idx.size(); ++k) {
    EXPECT_TRUE(std::equal(pixels.begin() + static_cast<std::ptrdiff_t>(k * 6),
                           pixels.begin() + static_cast<std::ptrdiff_t>(k * 6 + 6),
                           all.pixels.begin() + idx[k] * 6))
        << "position " << k << " row " << idx[k];
    EXPECT_EQ(labels[k], all.labels[static_cast<size_t>(idx[k])]);
  }
  // A file list and a glob mixed, in the order given.
  const H5Dataset mixed = H5Dataset::open({dir + "/part-2.h5", dir + "/part-[01].h5"});
  EXPECT_EQ(mixed.paths().front(), dir + "/part-2.h5");
  EXPECT_EQ(mixed.size(), 13);
}

TEST(H5Dataset, ExpandPathsErrors) {
  const std::string dir = make_temp_dir();
  write_images(dir + "/x.h5", make_images(3));
  EXPECT_CONTAINS(error_of([&] { frost::data::expand_paths({dir + "/nothing-*.h5"}); }),
                  dir + "/nothing-*.h5' matches no file");
  EXPECT_CONTAINS(error_of([&] { frost::data::expand_paths({dir + "/x.h5", dir + "/*.h5"}); }),
                  "listed more than once");
  EXPECT_THROW(frost::data::expand_paths({}), frost::Error);
  EXPECT_EQ(frost::data::expand_paths({dir + "/missing.h5"}),
            std::vector<std::string>{dir + "/missing.h5"});  // checked at open
}

TEST(H5Dataset, OutOfRangeIndexThrows) {
  const std::string dir = make_temp_dir();
  const H5Dataset ds = H5Dataset::open({write_images(dir + "/a.h5", make_images(10))});
  std::vector<uint8_t> pixels(12);
  std::vector<int64_t> labels(2);
  const std::string msg = error_of([&] { ds.read({3, 10}, pixels.data(), labels.data()); });
  EXPECT_CONTAINS(msg, "index 10 (position 1 of the request) is outside [0, 10)");
  EXPECT_CONTAINS(msg, dir + "/a.h5");
  EXPECT_THROW(ds.read({-1}, pixels.data(), labels.data()), frost::Error);
}

TEST(H5Dataset, LabelOutOfRangeErrorNamesIndex) {
  const std::string dir = make_temp_dir();
  const std::string path = write_images(dir + "/train.h5", make_images(1100), 256);
  edit_file(path, [](hid_t file) {
    std::vector<int64_t> labels(1100, 3);
    labels[1042] = 12;
    replace_dataset(file, "labels", H5T_STD_I64LE, {1100}, labels.data(), H5T_NATIVE_INT64);
  });
  const std::string msg = error_of([&] { H5Dataset::open({path}); });
  EXPECT_CONTAINS(msg, path + ": /labels[1042] = 12 is outside [0, 10) (num_classes attribute)");
}

TEST(H5Dataset, WrongInputsDtypeThrows) {
  const std::string dir = make_temp_dir();
  const std::string path = write_images(dir + "/a.h5", make_images(4));
  edit_file(path, [](hid_t file) {
    std::vector<float> x(4 * 6, 0.5f);
    replace_dataset(file, "inputs", H5T_IEEE_F32LE, {4, 1, 2, 3}, x.data(), H5T_NATIVE_FLOAT);
  });
  const std::string msg = error_of([&] { H5Dataset::open({path}); });
  EXPECT_CONTAINS(msg, path + ": /inputs has dtype float32 but input_kind 'image' needs uint8");
}

TEST(H5Dataset, WrongInputsRankThrows) {
  const std::string dir = make_temp_dir();
  const std::string path = write_images(dir + "/a.h5", make_images(4));
  edit_file(path, [](hid_t file) {
    std::vector<uint8_t> x(4 * 6, 1);
    replace_dataset(file, "inputs", H5T_STD_U8LE, {4, 6}, x.data(), H5T_NATIVE_UINT8);
  });
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({path}); }),
                  "/inputs has shape [4, 6] but input_kind 'image' needs [N, C, H, W]");
}

TEST(H5Dataset, MissingLabelsThrows) {
  const std::string dir = make_temp_dir();
  const std::string path = write_images(dir + "/a.h5", make_images(4));
  edit_file(path, [](hid_t file) { ASSERT_GE(H5Ldelete(file, "labels", H5P_DEFAULT), 0); });
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({path}); }), path + ": dataset /labels is missing");
}

TEST(H5Dataset, LabelCountMismatchThrows) {
  const std::string dir = make_temp_dir();
  const std::string path = write_images(dir + "/a.h5", make_images(4));
  edit_file(path, [](hid_t file) {
    std::vector<int64_t> y(5, 0);
    replace_dataset(file, "labels", H5T_STD_I64LE, {5}, y.data(), H5T_NATIVE_INT64);
  });
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({path}); }),
                  "/labels has 5 rows but /inputs has 4");
}

TEST(H5Dataset, SchemaAttributeChecked) {
  const std::string dir = make_temp_dir();
  const std::string path = write_images(dir + "/a.h5", make_images(4));
  edit_file(path, [](hid_t file) {
    const hid_t attr = H5Aopen(file, "frost_schema", H5P_DEFAULT);
    const int64_t v = 99;
    ASSERT_GE(H5Awrite(attr, H5T_NATIVE_INT64, &v), 0);
    H5Aclose(attr);
  });
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({path}); }), "frost_schema = 99");
  edit_file(path, [](hid_t file) { ASSERT_GE(H5Adelete(file, "frost_schema"), 0); });
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({path}); }),
                  "frost_schema is missing, so this is not a Frost dataset");
}

// The task attribute is part of the schema: a file that declares a task Frost does not train
// (or a misspelled one) used to train as classification without a word.
TEST(H5Dataset, TaskAttributeChecked) {
  const std::string dir = make_temp_dir();
  const std::string path = write_images(dir + "/a.h5", make_images(4));
  EXPECT_EQ(H5Dataset::open({path}).info().task, "classification");
  for (const std::string task : {"clasification", "", "Classification", "regresion"}) {
    edit_file(path, [&](hid_t file) {
      ASSERT_GE(H5Adelete(file, "task"), 0);
      frost::data::write_string_attr(file, "task", task, path);
    });
    const std::string msg = error_of([&] { H5Dataset::open({path}); });
    EXPECT_CONTAINS(msg, path + ": unknown task '" + task +
                             "'; expected one of: classification, multilabel, regression (root "
                             "attribute task)");
  }
  // A task Frost trains, but the file holds class labels, not that task's /targets.
  edit_file(path, [&](hid_t file) {
    ASSERT_GE(H5Adelete(file, "task"), 0);
    frost::data::write_string_attr(file, "task", "multilabel", path);
  });
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({path}); }),
                  path + ": dataset /targets is missing; a file with task = multilabel holds");
  // A file without the attribute is classification (files of other tools).
  edit_file(path, [](hid_t file) { ASSERT_GE(H5Adelete(file, "task"), 0); });
  EXPECT_EQ(H5Dataset::open({path}).info().task, "classification");
}

TEST(H5Dataset, MissingFileThrowsNamingIt) {
  const std::string dir = make_temp_dir();
  const std::string msg = error_of([&] { H5Dataset::open({dir + "/missing.h5"}); });
  EXPECT_CONTAINS(msg, dir + "/missing.h5: cannot open dataset file: No such file or directory");
}

TEST(H5Dataset, NotHdf5FileThrows) {
  const std::string dir = make_temp_dir();
  std::ofstream(dir + "/text.h5") << "hello, not hdf5\n";
  EXPECT_CONTAINS(error_of([&] { H5Dataset::open({dir + "/text.h5"}); }),
                  dir + "/text.h5: is not an HDF5 file");
}

TEST(H5Dataset, ShardSchemaMismatchNamesBothFiles) {
  const std::string dir = make_temp_dir();
  write_images(dir + "/s0.h5", make_images(4, 10));
  write_images(dir + "/s1.h5", make_images(4, 5));
  const std::string msg = error_of([&] { H5Dataset::open({dir + "/s*.h5"}); });
  EXPECT_CONTAINS(msg, "disagree on num_classes: '" + dir + "/s0.h5' has 10 but '" + dir +
                           "/s1.h5' has 5");
}

TEST(H5Dataset, FeaturesRoundTrip) {
  const std::string dir = make_temp_dir();
  const DatasetInfo info = feature_info(6, 5, 3);
  std::vector<float> x(30);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.5f * static_cast<float>(i) - 3.0f;
  const std::vector<int64_t> y{0, 1, 2, 2, 1, 0};
  write_dataset(dir + "/f.h5", info, x.data(), y.data());
  const H5Dataset ds = H5Dataset::open({dir + "/f.h5"});
  EXPECT_EQ(ds.info().input_kind, InputKind::kFeatures);
  EXPECT_TRUE(ds.info().mean.empty());
  std::vector<float> out(10);
  std::vector<int64_t> labels(2);
  ds.read({5, 1}, out.data(), labels.data());
  EXPECT_TRUE(std::equal(out.begin(), out.begin() + 5, x.begin() + 25));
  EXPECT_TRUE(std::equal(out.begin() + 5, out.end(), x.begin() + 5));
  EXPECT_EQ(labels, (std::vector<int64_t>{0, 1}));
}

TEST(H5Dataset, TokensWithAttentionMaskRoundTrip) {
  const std::string dir = make_temp_dir();
  const std::vector<int32_t> tokens{101, 7, 102, 0, 101, 8, 9, 102, 101, 102, 0, 0};
  const std::vector<uint8_t> mask{1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0};
  const std::vector<int64_t> y{1, 0, 1};
  write_tokens(dir + "/t.h5", /*len=*/4, /*num_classes=*/2, tokens, y, mask);
  // Read as written (mapped), then compressed in chunks of 2 rows (decoded), then through
  // HDF5 alone (compressed, no budget): the same rows every time.
  for (const char* variant : {"mapped", "decoded", "H5Dread"}) {
    SCOPED_TRACE(variant);
    if (std::string(variant) == "decoded") {
      edit_file(dir + "/t.h5", [&](hid_t file) {
        const hsize_t dims[2] = {3, 4}, chunk[2] = {2, 4};
        const hid_t space = H5Screate_simple(2, dims, nullptr);
        const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(dcpl, 2, chunk);
        H5Pset_deflate(dcpl, 1);
        for (const auto& [name, type, data] :
             {std::tuple<const char*, hid_t, const void*>{"inputs", H5T_STD_I32LE, tokens.data()},
              {"attention_mask", H5T_STD_U8LE, mask.data()}}) {
          ASSERT_GE(H5Ldelete(file, name, H5P_DEFAULT), 0);
          const hid_t dset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
          ASSERT_GE(H5Dwrite(dset, type == H5T_STD_I32LE ? H5T_NATIVE_INT32 : H5T_NATIVE_UINT8,
                             H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
          H5Dclose(dset);
        }
        H5Pclose(dcpl);
        H5Sclose(space);
      });
    }
    OpenOptions options;
    if (std::string(variant) == "H5Dread") options.chunk_cache_bytes = 0;
    const H5Dataset ds = H5Dataset::open({dir + "/t.h5"}, options);
    EXPECT_TRUE(ds.info().has_attention_mask);
    const std::vector<ObjectStorage> st = ds.storage();
    ASSERT_EQ(st.size(), 2u);
    EXPECT_EQ(st[1].object, "/attention_mask");
    EXPECT_STREQ(frost::data::row_access_name(st[0].access), variant);
    EXPECT_STREQ(frost::data::row_access_name(st[1].access), variant);
    std::vector<int32_t> t(8);
    std::vector<uint8_t> m(8);
    std::vector<int64_t> labels(2);
    ds.read({2, 0}, t.data(), labels.data(), m.data());
    EXPECT_EQ(t, (std::vector<int32_t>{101, 102, 0, 0, 101, 7, 102, 0}));
    EXPECT_EQ(m, (std::vector<uint8_t>{1, 1, 0, 0, 1, 1, 1, 0}));
    EXPECT_EQ(labels, (std::vector<int64_t>{1, 1}));
    std::vector<int32_t> t1(4);
    ds.read({1}, t1.data(), nullptr);  // inputs alone
    EXPECT_EQ(t1, (std::vector<int32_t>{101, 8, 9, 102}));
  }
}

TEST(H5Dataset, WriteRejectsBadLabelsAndLeavesNothing) {
  const std::string dir = make_temp_dir();
  ImageData d = make_images(5);
  d.labels[3] = 10;
  EXPECT_CONTAINS(error_of([&] { write_images(dir + "/bad.h5", d); }),
                  "labels[3] = 10 is outside [0, 10)");
  EXPECT_TRUE(dir_entries(dir).empty());
}

TEST(H5Dataset, FailedWriteRemovesTempAndKeepsOldFile) {
  const std::string dir = make_temp_dir();
  // The target is a non-empty directory: the HDF5 file is written, the rename fails.
  std::filesystem::create_directories(dir + "/target.h5/inside");
  const std::string msg = error_of([&] { write_images(dir + "/target.h5", make_images(5)); });
  EXPECT_CONTAINS(msg, dir + "/target.h5");
  EXPECT_EQ(dir_entries(dir), std::vector<std::string>{"target.h5"});  // no *.tmp.* left
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/target.h5/inside"));
  // A missing directory fails at file creation, naming the path.
  EXPECT_CONTAINS(error_of([&] { write_images(dir + "/no/such/dir.h5", make_images(5)); }),
                  dir + "/no/such/dir.h5");
  // An existing good file is replaced whole, never partially.
  write_images(dir + "/good.h5", make_images(5));
  write_images(dir + "/good.h5", make_images(7));
  EXPECT_EQ(H5Dataset::open({dir + "/good.h5"}).size(), 7);
}

TEST(H5Dataset, ReadsFilesWrittenByOtherTools) {
  // h5py's np.bytes_ attributes are fixed-length NUL-padded strings without a terminator when
  // the text fills them (this once read back as "imag"); other tools compress chunks.
  const std::string dir = make_temp_dir();
  const ImageData d = make_images(30);
  const std::string path = write_images(dir + "/a.h5", d);
  edit_file(path, [&](hid_t file) {
    ASSERT_GE(H5Adelete(file, "input_kind"), 0);
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 5);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t attr = H5Acreate2(file, "input_kind", type, space, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(H5Awrite(attr, type, "image"), 0);
    H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);

    ASSERT_GE(H5Ldelete(file, "inputs", H5P_DEFAULT), 0);
    const hsize_t dims[4] = {30, 1, 2, 3}, chunk[4] = {8, 1, 2, 3};
    const hid_t fspace = H5Screate_simple(4, dims, nullptr);
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 4, chunk);
    H5Pset_deflate(dcpl, 6);
    const hid_t dset = H5Dcreate2(file, "inputs", H5T_STD_U8LE, fspace, H5P_DEFAULT, dcpl,
                                  H5P_DEFAULT);
    ASSERT_GE(H5Dwrite(dset, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, d.pixels.data()), 0);
    H5Dclose(dset);
    H5Pclose(dcpl);
    H5Sclose(fspace);
  });
  const H5Dataset ds = H5Dataset::open({path});
  EXPECT_EQ(ds.info().input_kind, InputKind::kImage);
  const std::vector<int64_t> idx{29, 0, 9, 8, 17};
  std::vector<uint8_t> px(idx.size() * 6);
  ds.read(idx, px.data(), nullptr);
  for (size_t k = 0; k < idx.size(); ++k)
    EXPECT_TRUE(std::equal(px.begin() + static_cast<std::ptrdiff_t>(k * 6),
                           px.begin() + static_cast<std::ptrdiff_t>(k * 6 + 6),
                           d.pixels.begin() + idx[k] * 6))
        << "row " << idx[k];
}

TEST(H5Dataset, MovableAndUsableFromAnotherThread) {
  const std::string dir = make_temp_dir();
  const ImageData d = make_images(20);
  H5Dataset opened = H5Dataset::open({write_images(dir + "/a.h5", d)});
  H5Dataset moved = std::move(opened);
  H5Dataset assigned = H5Dataset::open({write_images(dir + "/b.h5", make_images(3))});
  assigned = std::move(moved);  // closes b.h5's handles
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 50; ++rep) {
        const std::vector<int64_t> idx{19 - t, t, 7};
        std::vector<uint8_t> px(18);
        std::vector<int64_t> y(3);
        assigned.read(idx, px.data(), y.data());
        bool same = true;
        for (size_t k = 0; k < 3; ++k)
          same = same && std::equal(px.begin() + static_cast<std::ptrdiff_t>(k * 6),
                                    px.begin() + static_cast<std::ptrdiff_t>(k * 6 + 6),
                                    d.pixels.begin() + idx[k] * 6);
        ok[static_cast<size_t>(t)] += same ? 1 : 0;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, (std::vector<int>{50, 50, 50, 50}));
}

}  // namespace
