// BatchLoader: batches come out in the order given with the right tensors (normalised images,
// tokens + mask, token batches cut to their longest row), an error on the background thread
// surfaces from next(), and the destructor returns promptly when the consumer stops early.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <hdf5.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "frost/core/blas_threads.h"
#include "frost/core/error.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/h5_util.h"
#include "frost/data/sampler.h"
#include "frost/train/loader.h"
#include "h5_test_util.h"
#include "test_util.h"

namespace {

using frost::testing::image_info, frost::testing::make_temp_dir, frost::testing::write_tokens;

using frost::train::Batch, frost::train::BatchLoader;
using frost::data::DatasetInfo, frost::data::H5Dataset;

// n images [2, 2, 2] (two channels), pixel (i, c, k) = (i * 11 + c * 5 + k) % 256, label i % 3,
// written to dir/images.h5.
struct Images : frost::testing::ImageData {
  std::string path;
};

Images write_images(const std::string& dir, int64_t n) {
  Images d;
  d.path = dir + "/images.h5";
  d.info = image_info(n, {2, 2, 2}, 3, {0.5, 0.25}, {0.2, 0.4});
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t k = 0; k < 4; ++k) d.pixels.push_back(static_cast<uint8_t>((i * 11 + c * 5 + k) % 256));
    d.labels.push_back(i % 3);
  }
  frost::testing::write_images(d.path, d, 4);
  return d;
}

TEST(BatchLoader, PreservesOrderAndNormalisesImages) {
  const Images d = write_images(make_temp_dir(), 20);
  const H5Dataset ds = H5Dataset::open({d.path});
  const std::vector<std::vector<int64_t>> batches{{7, 3, 19}, {0}, {12, 11, 10, 2}, {5, 5}};
  BatchLoader loader(ds, batches, /*prefetch_batches=*/1);
  EXPECT_EQ(loader.num_batches(), 4);
  Batch b;
  for (const auto& want : batches) {
    ASSERT_TRUE(loader.next(b));
    const auto n = static_cast<int64_t>(want.size());
    EXPECT_EQ(b.indices, want);
    ASSERT_EQ(b.inputs.sizes(), (std::vector<int64_t>{n, 2, 2, 2}));
    ASSERT_EQ(b.inputs.scalar_type(), torch::kFloat32);
    ASSERT_EQ(b.labels.scalar_type(), torch::kInt64);
    ASSERT_EQ(b.labels.sizes(), (std::vector<int64_t>{n}));
    EXPECT_FALSE(b.attention_mask.defined());
    const auto x = b.inputs.accessor<float, 4>();
    for (int64_t r = 0; r < n; ++r) {
      const int64_t i = want[static_cast<size_t>(r)];
      EXPECT_EQ(b.labels[r].item<int64_t>(), i % 3);
      for (int64_t c = 0; c < 2; ++c)
        for (int64_t k = 0; k < 4; ++k) {
          const double raw = d.pixels[static_cast<size_t>(i * 8 + c * 4 + k)];
          const double want_x = (raw / 255.0 - d.info.mean[c]) / d.info.std[c];
          EXPECT_NEAR(x[r][c][k / 2][k % 2], want_x, 1e-5) << "sample " << i << " c " << c;
        }
    }
  }
  EXPECT_FALSE(loader.next(b));
  EXPECT_FALSE(loader.next(b));
}

// Note [Image normalisation table]: the table gives bit for bit what the tensor operations give,
// for every pixel value of every channel (3 channels with awkward statistics).
TEST(BatchLoader, ImagesAreNormalisedBitForBitAsByTensorOps) {
  const std::string dir = make_temp_dir();
  const DatasetInfo info = image_info(256, {3, 4, 4}, 2, {0.2860405969887955, 0.1, 0.7},
                                      {0.3530242445149223, 0.3, 0.01});
  std::vector<uint8_t> pixels(256 * 48);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 37 % 256);
  const std::vector<int64_t> labels(256, 1);
  frost::data::write_dataset(dir + "/i.h5", info, pixels.data(), labels.data(), 64);
  const H5Dataset ds = H5Dataset::open({dir + "/i.h5"});
  std::vector<int64_t> all(256);
  for (int64_t i = 0; i < 256; ++i) all[static_cast<size_t>(i)] = (i * 97) % 256;
  BatchLoader loader(ds, {all});
  Batch b;
  ASSERT_TRUE(loader.next(b));
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const torch::Tensor mean = torch::tensor(info.mean, f64).to(torch::kFloat32).view({1, 3, 1, 1});
  const torch::Tensor std = torch::tensor(info.std, f64).to(torch::kFloat32).view({1, 3, 1, 1});
  const torch::Tensor raw = torch::from_blob(pixels.data(), {256, 3, 4, 4}, torch::kUInt8)
                                .index_select(0, torch::tensor(all, torch::kInt64));
  const torch::Tensor want = raw.to(torch::kFloat32).div_(255.0).sub_(mean).div_(std);
  EXPECT_TRUE(torch::equal(b.inputs, want));
}

TEST(BatchLoader, TokensComeWithAttentionMask) {
  const std::string dir = make_temp_dir();
  const std::vector<int32_t> tokens{101, 5, 102, 101, 102, 0, 101, 6, 7};
  const std::vector<uint8_t> mask{1, 1, 1, 1, 1, 0, 1, 1, 1};
  const std::vector<int64_t> labels{0, 1, 1};
  write_tokens(dir + "/t.h5", /*len=*/3, /*num_classes=*/2, tokens, labels, mask);
  const H5Dataset ds = H5Dataset::open({dir + "/t.h5"});
  BatchLoader loader(ds, {{1, 0}});
  Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.inputs.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(b.inputs, torch::tensor({101, 102, 0, 101, 5, 102}, torch::kInt64).view({2, 3})));
  ASSERT_TRUE(b.attention_mask.defined());
  EXPECT_EQ(b.attention_mask.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(b.attention_mask, torch::tensor({1, 1, 0, 1, 1, 1}, torch::kUInt8).view({2, 3})));
  EXPECT_TRUE(torch::equal(b.labels, torch::tensor({1, 0}, torch::kInt64)));
  EXPECT_FALSE(loader.next(b));
}

// Note [Dynamic padding]: each token batch is cut to 1 + its last column with a non-zero mask.
TEST(BatchLoader, TokenBatchesAreCutToTheirLongestRow) {
  const std::string dir = make_temp_dir();
  const std::vector<int32_t> tokens{
      101, 5, 102, 0, 0, 0,    // 3 real tokens
      101, 102, 0, 0, 0, 0,    // 2
      101, 6, 7, 8, 9, 102,    // 6: no padding at all
      101, 77, 102, 0, 0, 0,   // mask 1 0 1: not a prefix, the gap is kept
      0, 0, 0, 0, 0, 0};       // all padding (not written by frost-prep, but legal)
  const std::vector<uint8_t> mask{1, 1, 1, 0, 0, 0,  //
                                  1, 1, 0, 0, 0, 0,  //
                                  1, 1, 1, 1, 1, 1,  //
                                  1, 0, 1, 0, 0, 0,  //
                                  0, 0, 0, 0, 0, 0};
  const std::vector<int64_t> labels{0, 1, 0, 1, 0};
  write_tokens(dir + "/t.h5", /*len=*/6, /*num_classes=*/2, tokens, labels, mask);
  const H5Dataset ds = H5Dataset::open({dir + "/t.h5"});
  BatchLoader loader(ds, {{1, 0}, {1}, {0, 2}, {3}, {4}, {4, 1}});
  auto i64 = [](std::vector<int64_t> v, int64_t rows) {
    const auto n = static_cast<int64_t>(v.size());
    return torch::tensor(v, torch::kInt64).view({rows, n / rows});
  };
  auto u8 = [](std::vector<int64_t> v, int64_t rows) {
    const auto n = static_cast<int64_t>(v.size());
    return torch::tensor(v, torch::kInt64).to(torch::kUInt8).view({rows, n / rows});
  };
  struct Want {
    torch::Tensor inputs, mask;
    std::vector<int64_t> row_widths;  // 1 + each row's last column with a non-zero mask
  };
  const std::vector<Want> wants{
      {i64({101, 102, 0, 101, 5, 102}, 2), u8({1, 1, 0, 1, 1, 1}, 2), {2, 3}},
      {i64({101, 102}, 1), u8({1, 1}, 1), {2}},
      {i64({101, 5, 102, 0, 0, 0, 101, 6, 7, 8, 9, 102}, 2),
       u8({1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1}, 2), {3, 6}},
      {i64({101, 77, 102}, 1), u8({1, 0, 1}, 1), {3}},
      {i64({0}, 1), u8({0}, 1), {1}},  // never narrower than one column
      {i64({0, 0, 101, 102}, 2), u8({0, 0, 1, 1}, 2), {1, 2}},
  };
  Batch b;
  for (size_t k = 0; k < wants.size(); ++k) {
    ASSERT_TRUE(loader.next(b)) << "batch " << k;
    EXPECT_EQ(b.inputs.scalar_type(), torch::kInt64);
    EXPECT_TRUE(b.inputs.is_contiguous() && b.attention_mask.is_contiguous()) << "batch " << k;
    EXPECT_TRUE(torch::equal(b.inputs, wants[k].inputs))
        << "batch " << k << ": " << b.inputs << " vs " << wants[k].inputs;
    EXPECT_TRUE(torch::equal(b.attention_mask, wants[k].mask))
        << "batch " << k << ": " << b.attention_mask << " vs " << wants[k].mask;
    EXPECT_EQ(b.row_widths, wants[k].row_widths) << "batch " << k;
  }
  EXPECT_FALSE(loader.next(b));
}

// Sentence pairs: /token_type_ids come with the batch, cut to the mask's width, in the order of
// the indices, and survive to(); a file without them gives an undefined tensor.
TEST(BatchLoader, TokenTypesComeCutLikeTheMask) {
  const std::string dir = make_temp_dir();
  const std::vector<int32_t> tokens{101, 5, 102, 6, 102, 0,   //
                                    101, 7, 102, 8, 9, 102,   //
                                    101, 102, 4, 102, 0, 0};
  const std::vector<uint8_t> mask{1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
  const std::vector<uint8_t> types{0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0};
  const std::vector<int64_t> labels{0, 1, 0};
  frost::data::DatasetInfo info;
  info.num_samples = 3;
  info.sample_shape = {6};
  info.input_kind = frost::data::InputKind::kTokens;
  info.num_classes = 2;
  info.has_attention_mask = true;
  info.has_token_type_ids = true;
  frost::data::WriteOptions opt;
  opt.attention_mask = mask.data();
  opt.token_type_ids = types.data();
  frost::data::write_dataset(dir + "/p.h5", info, tokens.data(), labels.data(), opt);
  const H5Dataset ds = H5Dataset::open({dir + "/p.h5"});
  BatchLoader loader(ds, {{2, 0}, {1}});
  auto u8 = [](std::vector<int64_t> v, int64_t rows) {
    const auto n = static_cast<int64_t>(v.size());
    return torch::tensor(v, torch::kInt64).to(torch::kUInt8).view({rows, n / rows});
  };
  Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.inputs.size(1), 5);
  EXPECT_TRUE(torch::equal(b.token_type_ids, u8({0, 0, 1, 1, 0, 0, 0, 0, 1, 1}, 2)))
      << b.token_type_ids;
  const Batch moved = b.to(c10::Device(c10::kCPU));
  EXPECT_TRUE(torch::equal(moved.token_type_ids, b.token_type_ids));
  ASSERT_TRUE(loader.next(b));
  EXPECT_TRUE(torch::equal(b.token_type_ids, u8({0, 0, 0, 1, 1, 1}, 1)));
  EXPECT_FALSE(loader.next(b));

  write_tokens(dir + "/t.h5", /*len=*/6, /*num_classes=*/2, tokens, labels, mask);
  const H5Dataset single = H5Dataset::open({dir + "/t.h5"});
  BatchLoader plain(single, {{0, 1}});
  ASSERT_TRUE(plain.next(b));
  EXPECT_TRUE(b.attention_mask.defined());
  EXPECT_FALSE(b.token_type_ids.defined());
}

TEST(BatchLoader, TokensWithoutMaskAreNotCut) {
  const std::string dir = make_temp_dir();
  const std::vector<int32_t> tokens{101, 102, 0, 0, 101, 5, 102, 0};
  const std::vector<int64_t> labels{0, 1};
  write_tokens(dir + "/t.h5", /*len=*/4, /*num_classes=*/2, tokens, labels);
  const H5Dataset ds = H5Dataset::open({dir + "/t.h5"});
  BatchLoader loader(ds, {{0, 1}});
  Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_FALSE(b.attention_mask.defined());
  EXPECT_TRUE(b.row_widths.empty());
  EXPECT_EQ(b.inputs.sizes(), (std::vector<int64_t>{2, 4}));
}

// A pass-through HDF5 filter counting chunk decodes (ids 256-511 are for testing).
std::atomic<int64_t> g_decodes{0};
size_t counting_filter(unsigned flags, size_t, const unsigned[], size_t nbytes, size_t*, void**) {
  if ((flags & H5Z_FLAG_REVERSE) != 0) ++g_decodes;
  return nbytes;
}

TEST(BatchLoader, ReleasesEachDecodedBlockAfterItsLastBatch) {
  // Note [Releasing decoded blocks]: 400 images [2, 2, 2] in 40 filtered chunks of 10 rows,
  // a decode budget of 10 chunks, block-shuffled batches of 8: every batch right, every chunk
  // decoded once per epoch, the decoded bytes held never above the budget, none left at the end.
  static const H5Z_class2_t kClass = {H5Z_CLASS_T_VERS, 301, 1, 1, "frost test: count decodes",
                                      nullptr, nullptr, counting_filter};
  {
    frost::data::H5Lock lock;
    ASSERT_GE(H5Zregister(&kClass), 0);
  }
  const Images d = write_images(make_temp_dir(), 400);
  frost::testing::edit_file(d.path, [&](hid_t file) {
    ASSERT_GE(H5Ldelete(file, "inputs", H5P_DEFAULT), 0);
    const hsize_t dims[4] = {400, 2, 2, 2}, chunk[4] = {10, 2, 2, 2};
    const hid_t space = H5Screate_simple(4, dims, nullptr);
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 4, chunk);
    H5Pset_filter(dcpl, 301, H5Z_FLAG_MANDATORY, 0, nullptr);
    const hid_t dset = H5Dcreate2(file, "inputs", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl,
                                  H5P_DEFAULT);
    ASSERT_GE(H5Dwrite(dset, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, d.pixels.data()), 0);
    H5Dclose(dset);
    H5Pclose(dcpl);
    H5Sclose(space);
  });
  frost::data::OpenOptions options;
  options.chunk_cache_bytes = 10 * 10 * 8;
  options.release_over_budget = true;
  const H5Dataset ds = H5Dataset::open({d.path}, options);
  ASSERT_TRUE(ds.releases_blocks());
  const frost::data::TrainSampler sampler(
      400, 1, 0, 8, 3, false,
      frost::data::BlockLayout{ds.block_ends(),
                               frost::data::block_shuffle_window(options.chunk_cache_bytes, 8, 10)});
  EXPECT_EQ(sampler.window(), 80);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    g_decodes = 0;
    const auto batches = sampler.epoch_batches(epoch);
    BatchLoader loader(ds, batches, 3);
    Batch b;
    size_t k = 0;
    while (loader.next(b)) {
      ASSERT_EQ(b.indices, batches[k]);
      for (size_t r = 0; r < b.indices.size(); ++r)
        EXPECT_EQ(b.labels[static_cast<int64_t>(r)].item<int64_t>(), b.indices[r] % 3);
      // Pixel (i, c, k) = (i * 11 + c * 5 + k) % 256, normalised with mean 0.5 / 0.25 and std
      // 0.2 / 0.4: check the first pixel of channel 0 of every row.
      for (size_t r = 0; r < b.indices.size(); ++r) {
        const float want = (static_cast<float>((b.indices[r] * 11) % 256) / 255.0f - 0.5f) / 0.2f;
        EXPECT_NEAR(b.inputs[static_cast<int64_t>(r)][0][0][0].item<float>(), want, 1e-5);
      }
      ++k;
    }
    EXPECT_EQ(k, batches.size());
    EXPECT_EQ(g_decodes.load(), 40);
    EXPECT_EQ(ds.decoded_held_bytes(), 0);
  }
  EXPECT_LE(ds.decoded_peak_bytes(), options.chunk_cache_bytes);
  EXPECT_GE(ds.decoded_peak_bytes(), 10 * 8);
}

// Note [One OpenMP thread on the loader thread]: the call sequence BatchLoader::run uses cuts the
// calling thread's OpenMP count to 1 after LibTorch's own initialisation of it, and the other
// threads keep theirs. (The loader's own use of it is measured, not tested: docs/benchmarks.md.)
TEST(OpenMpThreads, SetOnOneThreadLeavesTheOthersTheirs) {
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  int in_thread = -1;
  bool has_openmp = false;
  std::thread t([&] {
    (void)at::get_num_threads();  // as BatchLoader::run: LibTorch initialises it first
    has_openmp = frost::set_openmp_threads_of_this_thread(1);
    in_thread = at::get_num_threads();
  });
  t.join();
  const int main_after = at::get_num_threads();
  at::set_num_threads(before);
  if (!has_openmp) GTEST_SKIP() << "this LibTorch has no OpenMP runtime (native thread pool)";
  EXPECT_EQ(in_thread, 1);
  EXPECT_EQ(main_after, 2);
}

TEST(BatchLoader, BackgroundErrorIsRethrownInConsumer) {
  const Images d = write_images(make_temp_dir(), 10);
  const H5Dataset ds = H5Dataset::open({d.path});
  // The third batch holds an out-of-range index: the first two arrive, then next() throws.
  BatchLoader loader(ds, {{0, 1}, {2}, {3, 99}, {4}});
  Batch b;
  ASSERT_TRUE(loader.next(b));
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.indices, (std::vector<int64_t>{2}));
  try {
    loader.next(b);
    FAIL() << "expected frost::Error";
  } catch (const frost::Error& e) {
    EXPECT_NE(std::string(e.what()).find("index 99"), std::string::npos) << e.what();
  }
  EXPECT_THROW(loader.next(b), frost::Error);  // sticky
}

TEST(BatchLoader, DestructorReturnsPromptlyWhenConsumerStopsEarly) {
  const Images d = write_images(make_temp_dir(), 64);
  const H5Dataset ds = H5Dataset::open({d.path});
  std::vector<std::vector<int64_t>> batches(10000, std::vector<int64_t>{1, 5, 9, 33});
  const auto start = std::chrono::steady_clock::now();
  {
    BatchLoader loader(ds, batches, 2);
    Batch b;
    ASSERT_TRUE(loader.next(b));
  }  // ~BatchLoader with 9999 batches left and the queue full
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0);
  BatchLoader untouched(ds, batches, 2);  // never consumed: must also join cleanly
}

TEST(BatchLoader, RejectsNonPositivePrefetch) {
  const Images d = write_images(make_temp_dir(), 4);
  const H5Dataset ds = H5Dataset::open({d.path});
  EXPECT_THROW(BatchLoader(ds, {{0}}, 0), frost::Error);
}

// Note [Pinned batches]: a loader for a CUDA device hands out page-locked host batches, for
// asynchronous copies; one for the CPU does not. Pinning needs CUDA.
TEST(GpuBatchLoader, ALoaderForCudaGivesPinnedBatches) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: pinned memory needs CUDA";
  const std::string dir = make_temp_dir();
  const std::vector<int32_t> tokens{101, 102, 0, 0, 101, 5, 102, 0};
  const std::vector<int64_t> labels{0, 1};
  write_tokens(dir + "/t.h5", /*len=*/4, /*num_classes=*/2, tokens, labels, {1, 1, 0, 0, 1, 1, 1, 0});
  const H5Dataset ds = H5Dataset::open({dir + "/t.h5"});
  for (const auto device : {torch::Device(torch::kCPU), torch::Device(torch::kCUDA, 0)}) {
    const bool pinned = device.is_cuda();
    BatchLoader loader(ds, {{0, 1}}, 2, device);
    Batch b;
    ASSERT_TRUE(loader.next(b));
    EXPECT_EQ(b.inputs.is_pinned(), pinned);
    EXPECT_EQ(b.labels.is_pinned(), pinned);
    EXPECT_EQ(b.attention_mask.is_pinned(), pinned);
    const Batch on = loader.to_device(b);
    EXPECT_EQ(on.inputs.device(), device);
    EXPECT_EQ(on.attention_mask.device(), device);
    EXPECT_TRUE(torch::equal(on.inputs.cpu(), b.inputs));
    EXPECT_EQ(on.row_widths, b.row_widths);
  }
}

// Note [Images normalised on the device]: uint8 pixels cross to the GPU and are normalised
// there to exactly the float32 values of the CPU path's table.
TEST(GpuBatchLoader, ImagesNormalisedOnTheGpuEqualTheCpuPathBitwise) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const Images d = write_images(make_temp_dir(), 12);
  const H5Dataset ds = H5Dataset::open({d.path});
  const std::vector<std::vector<int64_t>> batches{{3, 1, 4}, {11, 0}};
  BatchLoader cpu(ds, batches);
  BatchLoader gpu(ds, batches, 2, torch::Device(torch::kCUDA, 0));
  Batch a, b;
  while (cpu.next(a)) {
    ASSERT_TRUE(gpu.next(b));
    EXPECT_EQ(b.inputs.scalar_type(), torch::kUInt8) << "the host batch keeps the pixels";
    const Batch on = gpu.to_device(b);
    EXPECT_EQ(on.inputs.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(on.inputs.is_cuda());
    EXPECT_TRUE(torch::equal(on.inputs.cpu(), a.inputs));
    EXPECT_TRUE(torch::equal(on.labels.cpu(), a.labels));
  }
  EXPECT_FALSE(gpu.next(b));
}

// A loader for the CPU hands its batches to the model as they are.
TEST(BatchLoader, ToDeviceOnTheCpuIsTheBatchItself) {
  const Images d = write_images(make_temp_dir(), 4);
  const H5Dataset ds = H5Dataset::open({d.path});
  BatchLoader loader(ds, {{0, 1}});
  EXPECT_EQ(loader.device(), torch::Device(torch::kCPU));
  Batch b;
  ASSERT_TRUE(loader.next(b));
  const Batch on = loader.to_device(b);
  EXPECT_TRUE(on.inputs.is_same(b.inputs));
  EXPECT_TRUE(on.labels.is_same(b.labels));
  EXPECT_EQ(on.inputs.scalar_type(), torch::kFloat32);
}

}  // namespace
