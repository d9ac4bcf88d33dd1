#include "frost/data/prep.h"

#include <array>
#include <cmath>
#include <cstdio>

#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/data/dataset_info.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/idx.h"

namespace frost::data {
namespace {

// `dir/stem.gz` if it exists, else `dir/stem` if it exists; otherwise throws naming both.
std::string find_input(const std::string& dir, const std::string& stem) {
  const std::string base = (dir.empty() ? std::string(".") : dir) + "/" + stem;
  if (fs::exists(base + ".gz")) return base + ".gz";
  if (fs::exists(base)) return base;
  throw Error(detail::str_cat(base, ".gz: file not found (nor ", base,
                              "); --src must be the directory holding the four Fashion-MNIST "
                              "IDX files"));
}

// One split as read from its two IDX files, validated.
struct Split {
  std::string images_path, labels_path;
  IdxArray images, labels;
  int64_t n = 0;
};

Split read_split(const std::string& dir, const std::string& prefix) {
  Split s;
  s.images_path = find_input(dir, prefix + "-images-idx3-ubyte");
  s.labels_path = find_input(dir, prefix + "-labels-idx1-ubyte");
  s.images = read_idx(s.images_path);
  s.labels = read_idx(s.labels_path);
  const auto& d = s.images.dims;
  FROST_CHECK(
      d.size() == 3 && d[1] == kFashionMnistSide && d[2] == kFashionMnistSide, s.images_path,
      ": expected images of shape [N, ", kFashionMnistSide, ", ", kFashionMnistSide, "], found ",
      d.size(), " dimension(s) [",
      [&] {
        std::string t;
        for (size_t i = 0; i < d.size(); ++i) t += (i ? ", " : "") + std::to_string(d[i]);
        return t;
      }(),
      "]; is this a Fashion-MNIST image file?");
  FROST_CHECK(s.labels.dims.size() == 1, s.labels_path, ": expected labels of shape [N], found ",
              s.labels.dims.size(), " dimensions; is this a Fashion-MNIST label file?");
  s.n = d[0];
  FROST_CHECK(s.labels.dims[0] == s.n, s.labels_path, ": holds ", s.labels.dims[0], " labels but ",
              s.images_path, " holds ", s.n,
              " images; the two files of a split must have the same count (mixed-up or "
              "damaged downloads?)");
  FROST_CHECK(s.n >= 1, s.images_path, ": holds no images");
  for (int64_t i = 0; i < s.n; ++i) {
    const uint8_t y = s.labels.bytes[static_cast<size_t>(i)];
    FROST_CHECK(y < kFashionMnistClasses, s.labels_path, ": label[", i, "] = ", int{y},
                " is outside [0, ", kFashionMnistClasses, ")");
  }
  return s;
}

// The kept rows of a split, relabelled.
struct Kept {
  std::vector<uint8_t> pixels;  // [n, 28, 28]
  std::vector<int64_t> labels;  // [n], in 0..k-1
};

Kept filter(const Split& s, const std::array<int64_t, kFashionMnistClasses>& new_label) {
  constexpr size_t kPixels = kFashionMnistSide * kFashionMnistSide;
  Kept k;
  for (int64_t i = 0; i < s.n; ++i) {
    const int64_t y = new_label[s.labels.bytes[static_cast<size_t>(i)]];
    if (y < 0) continue;
    const auto* row = s.images.bytes.data() + static_cast<size_t>(i) * kPixels;
    k.pixels.insert(k.pixels.end(), row, row + kPixels);
    k.labels.push_back(y);
  }
  return k;
}

}  // namespace

std::vector<int64_t> parse_class_list(const std::string& spec, int64_t num_classes) {
  auto bad = [&](const std::string& why) -> Error {
    return Error(detail::str_cat("--classes '", spec, "': ", why,
                                 "; expected comma-separated ids and ranges in [0, ", num_classes,
                                 "), e.g. '0-4' or '5,7,9' or '0-2,7'"));
  };
  auto parse_id = [&](const std::string& t) -> int64_t {
    if (t.empty() || t.size() > 18 || t.find_first_not_of("0123456789") != std::string::npos)
      throw bad("'" + t + "' is not a class id");
    const int64_t v = std::stoll(t);
    if (v >= num_classes) throw bad("class " + t + " does not exist");
    return v;
  };
  std::vector<bool> keep(static_cast<size_t>(std::max<int64_t>(num_classes, 0)), false);
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    std::string item = spec.substr(pos, comma - pos);
    const size_t a = item.find_first_not_of(" \t"), b = item.find_last_not_of(" \t");
    item = (a == std::string::npos) ? "" : item.substr(a, b - a + 1);
    if (item.empty()) throw bad("empty item");
    const size_t dash = item.find('-');
    int64_t lo, hi;
    if (dash == std::string::npos) {
      lo = hi = parse_id(item);
    } else {
      lo = parse_id(item.substr(0, dash));
      hi = parse_id(item.substr(dash + 1));
      if (lo > hi) throw bad("range '" + item + "' is reversed");
    }
    for (int64_t c = lo; c <= hi; ++c) keep[static_cast<size_t>(c)] = true;
    pos = comma + 1;
  }
  std::vector<int64_t> out;
  for (size_t c = 0; c < keep.size(); ++c)
    if (keep[c]) out.push_back(static_cast<int64_t>(c));
  if (out.empty()) throw bad("no class selected");
  return out;
}

PrepSummary prep_fashion_mnist(const FashionMnistPrepOptions& options) {
  FROST_CHECK(options.chunk_rows >= 1, "--chunk-rows must be >= 1, got ", options.chunk_rows);
  FROST_CHECK(!options.out_dir.empty(), "--out must name the output directory");
  std::vector<int64_t> classes = options.classes;
  if (classes.empty())
    for (int64_t c = 0; c < kFashionMnistClasses; ++c) classes.push_back(c);
  std::array<int64_t, kFashionMnistClasses> new_label;
  new_label.fill(-1);
  for (size_t i = 0; i < classes.size(); ++i) {
    const int64_t c = classes[i];
    FROST_CHECK(c >= 0 && c < kFashionMnistClasses, "class ", c, " does not exist in [0, ",
                kFashionMnistClasses, ")");
    FROST_CHECK(i == 0 || c > classes[i - 1],
                "the class list must be ascending without "
                "duplicates (see parse_class_list)");
    new_label[static_cast<size_t>(c)] = static_cast<int64_t>(i);
  }

  // 1. Read and validate all four inputs before writing anything.
  const Split train_in = read_split(options.src_dir, "train");
  const Split test_in = read_split(options.src_dir, "t10k");
  const Kept train = filter(train_in, new_label);
  const Kept test = filter(test_in, new_label);
  FROST_CHECK(!train.labels.empty() && !test.labels.empty(), "the selected classes keep ",
              train.labels.size(), " train and ", test.labels.size(),
              " test images; both splits need at least one");

  // 2. mean/std of pixel/255 over the kept train images, exactly: from a histogram of the
  //    256 pixel values (no float accumulation over millions of terms).
  std::array<int64_t, 256> hist{};
  for (uint8_t p : train.pixels) ++hist[p];
  const auto count = static_cast<double>(train.pixels.size());
  double mean = 0;
  for (int v = 0; v < 256; ++v) mean += static_cast<double>(hist[v]) * (v / 255.0);
  mean /= count;
  double var = 0;
  for (int v = 0; v < 256; ++v) {
    const double dv = v / 255.0 - mean;
    var += static_cast<double>(hist[v]) * dv * dv;
  }
  const double std = std::sqrt(var / count);
  FROST_CHECK(std > 0,
              "the kept train images are all one colour (std of pixels = 0); "
              "they cannot be normalised");

  // 3. Write both files atomically.
  fs::create_directories(options.out_dir);

  DatasetInfo info;
  info.input_kind = InputKind::kImage;
  info.sample_shape = {1, kFashionMnistSide, kFashionMnistSide};
  info.num_classes = static_cast<int64_t>(classes.size());
  info.task = "classification";
  info.mean = {mean};
  info.std = {std};
  WriteOptions wopt;
  wopt.chunk_rows = options.chunk_rows;
  wopt.int64_attributes["class_ids"] = classes;

  PrepSummary summary;
  summary.class_ids = classes;
  summary.mean = mean;
  summary.std = std;
  summary.train = {options.out_dir + "/train.h5", static_cast<int64_t>(train.labels.size())};
  summary.test = {options.out_dir + "/test.h5", static_cast<int64_t>(test.labels.size())};

  info.num_samples = summary.train.num_samples;
  write_dataset(summary.train.path, info, train.pixels.data(), train.labels.data(), wopt);
  try {
    info.num_samples = summary.test.num_samples;
    write_dataset(summary.test.path, info, test.pixels.data(), test.labels.data(), wopt);
  } catch (...) {
    std::remove(summary.train.path.c_str());  // both files or neither
    throw;
  }
  return summary;
}

}  // namespace frost::data
