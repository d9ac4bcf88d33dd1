// prep_images (image_prep.h):
//
//   World          rank and size: MPI when launched by mpirun, else one process
//   list_*         the ImageFolder tree or the CSV -> (path, label) items, classes
//   split          the folders' split, or data::stratified_split; then this rank's share
//   convert        decode + resize + crop/pad on a thread pool, with progress on stderr
//   finish         bad images, channel count, statistics (agreed over ranks), then the files
#include "frost/image/image_prep.h"

#include <dirent.h>
#include <mpi.h>
#include <sys/stat.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "frost/core/cpus.h"
#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/data/csv.h"
#include "frost/data/dataset_info.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/split.h"
#include "frost/image/image_codec.h"

namespace frost::image {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---- World -----------------------------------------------------------------------------------

// The ranks of an mpirun launch. MPI is started only when the environment says that a launcher
// started this process (Open MPI, or a PMI/PMIx launcher such as Slurm's srun or MPICH's); a
// plain run is one rank without MPI.
class World {
 public:
  World() {
    for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
      if (std::getenv(var) != nullptr) launched_ = true;
    if (!launched_) return;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      FROST_CHECK(MPI_Init(nullptr, nullptr) == MPI_SUCCESS, "frost-prep: MPI_Init failed");
      owns_ = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;
  // Not finalised on an uncoordinated error: the launcher ends the job when a rank exits 1.
  void finalize() {
    if (owns_) MPI_Finalize();
    owns_ = false;
  }

  int rank() const { return rank_; }
  int size() const { return size_; }

  void sum(std::vector<int64_t>& v) const {
    if (size_ > 1)
      MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), MPI_INT64_T, MPI_SUM,
                    MPI_COMM_WORLD);
  }
  int64_t sum(int64_t x) const {
    std::vector<int64_t> v{x};
    sum(v);
    return v[0];
  }
  int64_t max(int64_t x) const {
    if (size_ > 1) MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    return x;
  }
  int64_t min(int64_t x) const { return -max(-x); }
  // Every rank's `lines`, in rank order, on rank 0 (others get their own back).
  std::vector<std::string> gather(const std::vector<std::string>& lines) const {
    if (size_ == 1) return lines;
    std::string text;
    for (const auto& l : lines) text += l + '\n';
    int len = static_cast<int>(text.size());
    std::vector<int> lens(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
    MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    int total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[static_cast<size_t>(r)] = total;
      total += lens[static_cast<size_t>(r)];
    }
    std::string all(rank_ == 0 ? static_cast<size_t>(total) : 0, '\0');
    MPI_Gatherv(text.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR, 0,
                MPI_COMM_WORLD);
    if (rank_ != 0) return lines;
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < all.size()) {
      const size_t nl = all.find('\n', pos);
      out.push_back(all.substr(pos, nl - pos));
      pos = nl + 1;
    }
    return out;
  }

 private:
  bool launched_ = false, owns_ = false;
  int rank_ = 0, size_ = 1;
};

// ---- listing ---------------------------------------------------------------------------------

struct Item {
  std::string path;
  int64_t label = 0;
};

struct Listing {
  std::vector<std::string> classes;
  std::vector<Item> items;  // by class, then path
  int64_t ignored = 0;      // files without an image extension
};

bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool has_image_extension(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == "jpg" || ext == "jpeg" || ext == "png";
}

// The entries of `dir` (without "." and ".." and names starting with '.'), sorted by bytes.
std::vector<std::string> entries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  FROST_CHECK(d != nullptr, dir, ": cannot read the folder: ", std::strerror(errno));
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// Image files under `dir` (recursively), sorted by their path below `dir`.
void walk_images(const std::string& dir, std::vector<std::string>& out, int64_t& ignored,
                 int depth = 0) {
  FROST_CHECK(depth < 64, dir, ": folders nested deeper than 64 levels (a link loop?)");
  for (const std::string& name : entries(dir)) {
    const std::string path = dir + "/" + name;
    if (is_dir(path)) {
      walk_images(path, out, ignored, depth + 1);
    } else if (has_image_extension(name)) {
      out.push_back(path);
    } else {
      ++ignored;
    }
  }
}

// ROOT/<class>/... -> classes and items.
Listing list_class_root(const std::string& root) {
  FROST_CHECK(is_dir(root), root,
              ": not a folder (--src must be the ImageFolder root, "
              "ROOT/<class>/<image>)");
  Listing l;
  for (const std::string& name : entries(root)) {
    const std::string path = root + "/" + name;
    if (is_dir(path)) {
      l.classes.push_back(name);
    } else {
      FROST_CHECK(!has_image_extension(name), root, ": holds the image file '", name,
                  "' directly; expected the ImageFolder layout ROOT/<class>/<image> with one "
                  "folder per class (or ROOT/train/<class>/... and ROOT/test/<class>/...)");
      ++l.ignored;
    }
  }
  FROST_CHECK(!l.classes.empty(), root,
              ": holds no class folders; expected the ImageFolder "
              "layout ROOT/<class>/<image> (or ROOT/train/<class>/... and ROOT/test/<class>/...)");
  for (size_t c = 0; c < l.classes.size(); ++c) {
    const std::string dir = root + "/" + l.classes[c];
    std::vector<std::string> files;
    walk_images(dir, files, l.ignored);
    FROST_CHECK(!files.empty(), dir, ": the class folder '", l.classes[c],
                "' holds no .jpg, .jpeg or .png file; every class needs images (remove the "
                "folder to drop the class)");
    for (auto& f : files) l.items.push_back({std::move(f), static_cast<int64_t>(c)});
  }
  return l;
}

std::string trim_spaces(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

size_t find_column(const data::CsvTable& t, const std::string& path, const std::string& name) {
  for (size_t c = 0; c < t.header.size(); ++c)
    if (trim_spaces(t.header[c]) == name) return c;
  throw Error(detail::str_cat(path, ": line 1: the header has no '", name,
                              "' column; expected columns 'path' and 'label'"));
}

bool parse_int(const std::string& s, int64_t* value) {
  const size_t from = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (s.size() == from || s.size() > 18 ||
      s.find_first_not_of("0123456789", from) != std::string::npos)
    return false;
  *value = std::stoll(s);
  return true;
}

Listing list_csv(const std::string& csv, const std::vector<std::string>& given) {
  const data::CsvTable t = data::read_csv(csv);
  const size_t path_col = find_column(t, csv, "path"), label_col = find_column(t, csv, "label");
  const size_t slash = csv.rfind('/');
  const std::string base = slash == std::string::npos ? "." : csv.substr(0, slash);
  Listing l;
  std::map<std::string, int64_t> index;
  if (!given.empty()) {
    l.classes = given;
    for (size_t c = 0; c < given.size(); ++c) {
      FROST_CHECK(index.emplace(given[c], static_cast<int64_t>(c)).second, "--labels names '",
                  given[c], "' twice");
    }
  } else {
    // The distinct labels: integers numerically when all are, else by bytes.
    bool all_int = true;
    std::set<std::string> names;
    for (const auto& row : t.rows) {
      int64_t v;
      names.insert(row[label_col]);
      all_int = all_int && parse_int(row[label_col], &v);
    }
    l.classes.assign(names.begin(), names.end());
    if (all_int)
      std::stable_sort(l.classes.begin(), l.classes.end(), [](const auto& a, const auto& b) {
        int64_t x = 0, y = 0;
        parse_int(a, &x);
        parse_int(b, &y);
        return x < y;
      });
    for (size_t c = 0; c < l.classes.size(); ++c)
      index.emplace(l.classes[c], static_cast<int64_t>(c));
  }
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto line = t.row_lines[r];
    const std::string& label = t.rows[r][label_col];
    const std::string& rel = t.rows[r][path_col];
    FROST_CHECK(!label.empty(), csv, ": line ", line, ": the label is empty");
    const auto it = index.find(label);
    if (it == index.end()) {
      std::string known;
      for (size_t c = 0; c < l.classes.size(); ++c) known += (c ? ", '" : "'") + l.classes[c] + "'";
      throw Error(detail::str_cat(csv, ": line ", line, ": unknown label '", label,
                                  "'; --labels lists ", known));
    }
    FROST_CHECK(!rel.empty(), csv, ": line ", line, ": the path is empty");
    const std::string path = rel[0] == '/' ? rel : base + "/" + rel;
    FROST_CHECK(is_file(path), csv, ": line ", line, ": the image '", path,
                "' does not exist or is not a file (relative paths are from the CSV's folder)");
    l.items.push_back({path, it->second});
  }
  FROST_CHECK(!l.items.empty(), csv, ": holds no data rows after the header");
  return l;
}

// ---- resizing --------------------------------------------------------------------------------

// Python's round() (half to even) of x / 2, for torchvision's CenterCrop offsets.
int64_t half_round_even(int64_t x) { return static_cast<int64_t>(std::nearbyint(x / 2.0)); }

// `img` (HWC) -> `out` [channels, S, S] (planes 0..img.channels-1 written).
void to_square(const Image& img, int64_t s, ResizeMode mode, uint8_t* out) {
  const int64_t h = img.height, w = img.width, c = img.channels;
  const int64_t shorter = std::min(h, w), longer = std::max(h, w);
  int64_t new_short, new_long;
  if (mode == ResizeMode::kCrop) {  // torchvision Resize(S): int(S * long / short)
    new_short = s;
    new_long = static_cast<int64_t>(static_cast<double>(s * longer) / static_cast<double>(shorter));
  } else {
    new_long = s;
    new_short = std::max<int64_t>(
        1, static_cast<int64_t>(static_cast<double>(s * shorter) / static_cast<double>(longer)));
  }
  const int64_t nh = h <= w ? new_short : new_long, nw = h <= w ? new_long : new_short;
  const uint8_t* src = img.pixels.data();
  torch::Tensor resized;  // [nh, nw, c] uint8
  if (nh != h || nw != w) {
    // Note [Resize]: LibTorch's bilinear interpolation with antialias, the kernel of
    // torchvision.transforms.v2.Resize on uint8 tensors (antialias=True), half-pixel centres.
    const torch::Tensor in =
        torch::from_blob(const_cast<uint8_t*>(src), {1, h, w, c}, torch::kUInt8)
            .permute({0, 3, 1, 2});
    resized = at::_upsample_bilinear2d_aa(in, {nh, nw}, /*align_corners=*/false)
                  .permute({0, 2, 3, 1})
                  .contiguous();
    src = resized.data_ptr<uint8_t>();
  }
  const int64_t plane = s * s;
  if (mode == ResizeMode::kCrop) {
    const int64_t top = half_round_even(nh - s), left = half_round_even(nw - s);
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < s; ++y)
        for (int64_t x = 0; x < s; ++x)
          out[ch * plane + y * s + x] = src[((y + top) * nw + x + left) * c + ch];
  } else {
    std::memset(out, 0, static_cast<size_t>(c * plane));
    const int64_t top = (s - nh) / 2, left = (s - nw) / 2;
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < nh; ++y)
        for (int64_t x = 0; x < nw; ++x)
          out[ch * plane + (y + top) * s + x + left] = src[(y * nw + x) * c + ch];
  }
}

// ---- converting this rank's share --------------------------------------------------------------

// One split's share on this rank: its items, then the converted rows.
struct Share {
  std::vector<Item> items;
  std::vector<uint8_t> rows;         // [n, stride]; stride = alloc_channels * S * S
  std::vector<int8_t> row_channels;  // channels decoded per row
  std::vector<std::string> errors;   // per row; empty = converted
};

std::string fmt_seconds(double s) {
  char buf[32];
  if (s < 120)
    std::snprintf(buf, sizeof buf, "%.0f s", s);
  else if (s < 7200)
    std::snprintf(buf, sizeof buf, "%.1f min", s / 60);
  else
    std::snprintf(buf, sizeof buf, "%.1f h", s / 3600);
  return buf;
}

// Converts every item of `shares` on `threads` threads; in error mode stops at the first bad
// image. Rank 0 prints progress to stderr every 2 s.
void convert(std::vector<Share*> shares, const ImagePrepOptions& o, int alloc_channels, int threads,
             const World& world, bool show_progress) {
  const int64_t plane = o.size * o.size, stride = alloc_channels * plane;
  std::vector<std::pair<Share*, int64_t>> work;
  for (Share* sh : shares) {
    const auto n = static_cast<int64_t>(sh->items.size());
    sh->rows.assign(static_cast<size_t>(n * stride), 0);
    sh->row_channels.assign(static_cast<size_t>(n), 0);
    sh->errors.assign(static_cast<size_t>(n), {});
    for (int64_t i = 0; i < n; ++i) work.emplace_back(sh, i);
  }
  const auto total = static_cast<int64_t>(work.size());
  std::atomic<int64_t> next{0}, done{0};
  std::atomic<bool> stop{false};
  auto worker = [&] {
    for (;;) {
      const int64_t k = next.fetch_add(1);
      if (k >= total || stop.load()) return;
      auto [sh, i] = work[static_cast<size_t>(k)];
      const std::string& path = sh->items[static_cast<size_t>(i)].path;
      try {
        const Image img = decode_image(path, o.channels);
        to_square(img, o.size, o.resize_mode, sh->rows.data() + i * stride);
        sh->row_channels[static_cast<size_t>(i)] = static_cast<int8_t>(img.channels);
      } catch (const std::exception& e) {
        std::string what = e.what();
        if (what.rfind(path, 0) != 0) what = path + ": " + what;  // name the path first
        sh->errors[static_cast<size_t>(i)] = what;
        if (!o.skip_bad_images) stop = true;
      }
      done.fetch_add(1);
    }
  };
  const Clock::time_point t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  Clock::time_point last = t0;
  auto print = [&](int64_t d) {
    const double el = seconds_since(t0);
    const double rate = el > 0 ? d / el : 0;
    std::cerr << "frost-prep: images: " << d << "/" << total << " converted";
    if (world.size() > 1) std::cerr << " (rank 0's share of " << world.size() << ")";
    char buf[64];
    std::snprintf(buf, sizeof buf, ", %.0f images/s", rate);
    std::cerr << buf;
    if (d < total && rate > 0)
      std::cerr << ", ETA " << fmt_seconds((total - d) / rate);
    else
      std::cerr << ", " << fmt_seconds(el);
    std::cerr << "\n";
  };
  while (done.load() < total && !stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (show_progress && seconds_since(last) >= 2.0) {
      last = Clock::now();
      print(done.load());
    }
  }
  for (auto& t : pool) t.join();
  if (show_progress && !stop.load()) print(done.load());
}

// Moves the converted rows of `sh` to [n, channels * S * S] (grey rows replicated to RGB when
// channels is 3), dropping the rows with errors.
void finish_rows(Share& sh, int alloc_channels, int channels, int64_t plane) {
  const int64_t in_stride = alloc_channels * plane, out_stride = channels * plane;
  size_t kept = 0;
  for (size_t i = 0; i < sh.items.size(); ++i) {
    if (!sh.errors[i].empty()) continue;
    uint8_t* dst = sh.rows.data() + kept * out_stride;
    const uint8_t* src = sh.rows.data() + i * in_stride;  // dst <= src: forward moves are safe
    const int have = sh.row_channels[i];
    for (int c = 0; c < channels; ++c)
      std::memmove(dst + c * plane, src + (have == 1 ? 0 : c) * plane, static_cast<size_t>(plane));
    sh.items[kept] = sh.items[i];
    ++kept;
  }
  sh.items.resize(kept);
  sh.rows.resize(kept * out_stride);
}

}  // namespace

ResizeMode parse_resize_mode(const std::string& s) {
  if (s == "crop") return ResizeMode::kCrop;
  if (s == "pad") return ResizeMode::kPad;
  throw Error("--resize-mode '" + s + "' is not one of: crop | pad");
}

ImagePrepSummary prep_images(const ImagePrepOptions& o) {
  FROST_CHECK(o.src_dir.empty() != o.csv_path.empty(), "give exactly one of --src and --csv");
  FROST_CHECK(!o.out_dir.empty(), "--out must name the output directory");
  FROST_CHECK(o.size >= 1 && o.size <= 8192, "--size must be in [1, 8192], got ", o.size);
  FROST_CHECK(o.channels == 0 || o.channels == 1 || o.channels == 3,
              "--channels must be 1, 3 or auto, got ", o.channels);
  FROST_CHECK(std::isfinite(o.test_frac) && o.test_frac > 0 && o.test_frac < 1,
              "--test-frac must be in (0, 1), got ", o.test_frac);
  FROST_CHECK(o.deflate_level >= 0 && o.deflate_level <= 9, "--compress must be in [0, 9], got ",
              o.deflate_level);
  FROST_CHECK(o.chunk_rows >= 0, "--chunk-rows must be >= 1, got ", o.chunk_rows);
  FROST_CHECK(o.threads >= 0, "--threads must be >= 1 (or 0: every usable CPU), got ", o.threads);
  FROST_CHECK(o.labels.empty() || !o.csv_path.empty(), "--labels is for --csv input");
  const Clock::time_point t_start = Clock::now();
  World world;
  ImagePrepSummary summary;
  summary.rank = world.rank();
  summary.world = world.size();

  // 1. List and split (the same on every rank: no communication needed).
  std::vector<Item> train_items, test_items;
  std::vector<std::string> classes;
  if (!o.src_dir.empty()) {
    std::string root = o.src_dir;
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    const std::string test_dir = is_dir(root + "/test") ? root + "/test" : root + "/val";
    if (is_dir(root + "/train") && is_dir(test_dir)) {
      Listing tr = list_class_root(root + "/train"), te = list_class_root(test_dir);
      if (tr.classes != te.classes) {  // name the first class folder one side lacks
        const auto only_in = [](const std::vector<std::string>& a,
                                const std::vector<std::string>& b) {
          for (const auto& c : a) {
            if (std::find(b.begin(), b.end(), c) == b.end()) return c;
          }
          return std::string();
        };
        const std::string train_only = only_in(tr.classes, te.classes);
        const std::string test_only = only_in(te.classes, tr.classes);
        throw Error(detail::str_cat(
            root, "/train and ", test_dir, " hold different class folders (", tr.classes.size(),
            " and ", te.classes.size(), "): ",
            train_only.empty() ? "'" + test_only + "' is in " + test_dir + " only"
                               : "'" + train_only + "' is in " + root + "/train only",
            "; both splits need the same classes"));
      }
      classes = tr.classes;
      train_items = std::move(tr.items);
      test_items = std::move(te.items);
      summary.ignored_files = tr.ignored + te.ignored;
      summary.split_from_folders = true;
    } else {
      Listing l = list_class_root(root);
      classes = l.classes;
      summary.ignored_files = l.ignored;
      std::vector<int64_t> labels;
      for (const auto& it : l.items) labels.push_back(it.label);
      const data::StratifiedSplit s =
          data::stratified_split(labels, static_cast<int64_t>(classes.size()), o.test_frac, o.seed);
      for (int64_t r : s.train) train_items.push_back(l.items[static_cast<size_t>(r)]);
      for (int64_t r : s.test) test_items.push_back(l.items[static_cast<size_t>(r)]);
    }
  } else {
    Listing l = list_csv(o.csv_path, o.labels);
    classes = l.classes;
    std::vector<int64_t> labels;
    for (const auto& it : l.items) labels.push_back(it.label);
    const data::StratifiedSplit s =
        data::stratified_split(labels, static_cast<int64_t>(classes.size()), o.test_frac, o.seed);
    for (int64_t r : s.train) train_items.push_back(l.items[static_cast<size_t>(r)]);
    for (int64_t r : s.test) test_items.push_back(l.items[static_cast<size_t>(r)]);
  }
  const std::string input = o.src_dir.empty() ? o.csv_path : o.src_dir;
  FROST_CHECK(classes.size() >= 2, input, ": holds ", classes.size(),
              " class(es); a classifier needs at least 2");
  const auto k = static_cast<int64_t>(classes.size());
  summary.class_names = classes;
  for (const auto* side : {&train_items, &test_items}) {
    const char* name = side == &train_items ? "train" : "test";
    FROST_CHECK(static_cast<int64_t>(side->size()) >= world.size(), input, ": the ", name,
                " split holds ", side->size(), " image(s), fewer than the ", world.size(),
                " ranks (each rank writes one shard of at least one image)",
                side == &test_items && !summary.split_from_folders ? "; raise --test-frac" : "");
  }

  // 2. This rank's share: a contiguous block of each split.
  auto share_of = [&](const std::vector<Item>& all) {
    const auto n = static_cast<int64_t>(all.size());
    const int64_t lo = n * world.rank() / world.size(), hi = n * (world.rank() + 1) / world.size();
    Share sh;
    sh.items.assign(all.begin() + lo, all.begin() + hi);
    return sh;
  };
  Share train = share_of(train_items), test = share_of(test_items);
  train_items.clear();
  test_items.clear();

  // 3. Convert on every usable CPU.
  torch::set_num_threads(1);  // one image per thread; no nested intra-op pool
  summary.threads = o.threads > 0 ? o.threads : frost::usable_cpus();
  const int alloc_channels = o.channels == 0 ? 3 : o.channels;
  convert({&train, &test}, o, alloc_channels, summary.threads, world,
          o.progress && world.rank() == 0);

  // 4. Bad images: fail together, or skip and list them.
  std::vector<std::string> bad;
  for (const Share* sh : {&train, &test})
    for (const auto& e : sh->errors)
      if (!e.empty()) bad.push_back(e);
  const int64_t bad_total = world.sum(static_cast<int64_t>(bad.size()));
  if (!o.skip_bad_images && bad_total > 0) {
    world.finalize();
    if (!bad.empty())
      throw Error(bad.front() +
                  " (--on-bad-image skip skips such files and lists them; nothing "
                  "was written)");
    throw Error(detail::str_cat("rank ", world.rank(),
                                ": another rank found a bad image (its "
                                "error names it); nothing was written"));
  }
  const std::vector<std::string> all_bad = world.gather(bad);
  for (const auto& e : bad) std::cerr << "frost-prep: skipped: " << e << "\n";
  summary.skipped = all_bad;

  // 5. Channels: auto = 3 as soon as one image of any rank has colour.
  int64_t have = 1;
  for (const Share* sh : {&train, &test})
    for (size_t i = 0; i < sh->items.size(); ++i)
      if (sh->errors[i].empty()) have = std::max<int64_t>(have, sh->row_channels[i]);
  const int channels = o.channels != 0 ? o.channels : static_cast<int>(world.max(have));
  summary.channels = channels;
  const int64_t plane = o.size * o.size;
  finish_rows(train, alloc_channels, channels, plane);
  finish_rows(test, alloc_channels, channels, plane);
  const int64_t min_rows =
      world.min(static_cast<int64_t>(std::min(train.items.size(), test.items.size())));
  if (min_rows == 0) {
    world.finalize();
    throw Error(detail::str_cat("after skipping ", bad_total, " bad image(s), a shard of rank ",
                                world.rank(),
                                " (or another rank's) would hold no image; "
                                "nothing was written"));
  }

  // 6. Per-class counts and the statistics of all train images (exact: histograms).
  std::vector<int64_t> counts(static_cast<size_t>(2 * k), 0);
  for (const auto& it : train.items) ++counts[static_cast<size_t>(it.label)];
  for (const auto& it : test.items) ++counts[static_cast<size_t>(k + it.label)];
  world.sum(counts);
  summary.train_per_class.assign(counts.begin(), counts.begin() + k);
  summary.test_per_class.assign(counts.begin() + k, counts.end());
  std::vector<int64_t> hist(static_cast<size_t>(channels * 256), 0);
  for (size_t i = 0; i < train.items.size(); ++i)
    for (int c = 0; c < channels; ++c) {
      const uint8_t* p = train.rows.data() + (static_cast<int64_t>(i) * channels + c) * plane;
      int64_t* h = hist.data() + c * 256;
      for (int64_t j = 0; j < plane; ++j) ++h[p[j]];
    }
  world.sum(hist);
  for (int c = 0; c < channels; ++c) {
    const int64_t* h = hist.data() + c * 256;
    double count = 0, mean = 0, var = 0;
    for (int v = 0; v < 256; ++v) {
      count += static_cast<double>(h[v]);
      mean += static_cast<double>(h[v]) * (v / 255.0);
    }
    mean /= count;
    for (int v = 0; v < 256; ++v)
      var += static_cast<double>(h[v]) * (v / 255.0 - mean) * (v / 255.0 - mean);
    summary.mean.push_back(mean);
    summary.std.push_back(std::sqrt(var / count));
    if (!(summary.std.back() > 0)) {
      world.finalize();
      throw Error(detail::str_cat(input, ": channel ", c,
                                  " of the train images is one colour "
                                  "(std 0); they cannot be normalised; nothing was written"));
    }
  }

  // 7. Write this rank's files; all ranks' or none.
  auto name = [&](const char* split) {
    if (world.size() == 1) return o.out_dir + "/" + split + ".h5";
    char buf[64];
    std::snprintf(buf, sizeof buf, "-%05d-of-%05d.h5", world.rank(), world.size());
    return o.out_dir + "/" + split + buf;
  };
  data::DatasetInfo info;
  info.input_kind = data::InputKind::kImage;
  info.sample_shape = {channels, o.size, o.size};
  info.num_classes = k;
  info.task = "classification";
  info.mean = summary.mean;
  info.std = summary.std;
  data::WriteOptions wopt;
  wopt.chunk_rows = o.chunk_rows > 0
                        ? o.chunk_rows
                        : std::clamp<int64_t>((int64_t{4} << 20) / (channels * plane), 1, 1024);
  wopt.deflate_level = o.deflate_level;
  wopt.string_attributes["label_values"] = nlohmann::json(classes).dump();
  wopt.int64_attributes["image_size"] = {o.size};
  summary.train.path = name("train");
  summary.test.path = name("test");
  summary.skipped_list = all_bad.empty() || world.rank() != 0 ? "" : o.out_dir + "/skipped.txt";
  std::string failure;
  std::vector<std::string> written;
  try {
    fs::create_directories(o.out_dir);
    for (auto [sh, split] : {std::pair{&train, &summary.train}, std::pair{&test, &summary.test}}) {
      std::vector<int64_t> labels;
      for (const auto& it : sh->items) labels.push_back(it.label);
      info.num_samples = static_cast<int64_t>(labels.size());
      split->num_samples = info.num_samples;
      data::write_dataset(split->path, info, sh->rows.data(), labels.data(), wopt);
      written.push_back(split->path);
    }
    if (!summary.skipped_list.empty()) {
      std::string text;
      for (const auto& e : all_bad) text += e + "\n";
      fs::write_file_atomic(summary.skipped_list, text);
      written.push_back(summary.skipped_list);
    }
  } catch (const std::exception& e) {
    failure = e.what();
  }
  const int64_t failures = world.sum(failure.empty() ? 0 : 1);
  if (failures > 0) {
    for (const auto& p : written) std::remove(p.c_str());  // every rank's files or none
    world.finalize();
    if (!failure.empty()) throw Error(failure + " (every file of this run was removed)");
    throw Error(detail::str_cat("rank ", world.rank(),
                                ": another rank failed to write its shard "
                                "(its error names it); every file of this run was removed"));
  }
  world.finalize();
  summary.seconds = seconds_since(t_start);
  return summary;
}

}  // namespace frost::image
