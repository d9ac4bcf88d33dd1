// Converting folders of JPEG/PNG images into Frost HDF5 image files (the library side of
// `frost-prep images`, docs/data.md).
//
//   ROOT/<class>/<file>.{jpg,jpeg,png}        (ImageFolder; ROOT/{train,test|val}/<class>/...
//   or a CSV of path,label                     gives the split, else a seeded stratified one)
//     --decode (libjpeg-turbo, libpng; image_codec.h) on a pool of threads
//     --resize (LibTorch's antialiased bilinear, torchvision's Resize) + centre crop or pad
//     --> OUT/train.h5, OUT/test.h5   or, under mpirun with W ranks, one shard per rank:
//         OUT/train-RRRRR-of-WWWWW.h5, OUT/test-RRRRR-of-WWWWW.h5 (data.train = OUT/train-*.h5)
//
// Each file: input_kind image, /inputs uint8 [N, C, S, S], /labels int64 [N], num_classes k,
// mean/std per channel of pixel/255 over ALL train images (every rank's; the same values in
// every file), label_values (JSON list of the class names, read by class_names.h), image_size
// (int64 [1]).
//
// Uses LibTorch (at::_upsample_bilinear2d_aa, antialiased bilinear) on its own threads; sets
// LibTorch's intra-op threads to 1 (the parallelism is one image per thread).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frost/data/prep.h"

namespace frost::image {

enum class ResizeMode {
  kCrop,  ///< shorter side to S (torchvision Resize(S)), then the centre S x S (CenterCrop(S))
  kPad,   ///< longer side to S, then centred on an S x S black square
};

/// What to convert, and where to.
struct ImagePrepOptions {
  std::string src_dir;   ///< ImageFolder root; exactly one of src_dir and csv_path
  std::string csv_path;  ///< CSV with columns path,label; relative paths from the CSV's folder
  /// CSV only: the class names in label order; a row with another label is an error. Empty:
  /// the distinct labels, sorted (integers numerically, other names by bytes).
  std::vector<std::string> labels;
  std::string out_dir;  ///< created if missing
  int64_t size = 224;   ///< S, the side of the stored square images, in [1, 8192]
  ResizeMode resize_mode = ResizeMode::kCrop;
  int channels = 0;        ///< 1 or 3; 0 = auto: 1 if every image is grey, else 3
  double test_frac = 0.2;  ///< seeded split only: fraction of each class for test, in (0, 1)
  uint64_t seed = 0;       ///< seeded split only: seeds the split and the row order
  int deflate_level = 0;   ///< gzip level of the datasets, 0 (none) - 9
  /// HDF5 chunk rows; 0 = about 4 MiB per chunk (at most 1024 rows)
  int64_t chunk_rows = 0;
  bool skip_bad_images = false;  ///< skip (and list) undecodable images instead of failing
  int threads = 0;               ///< decoding threads; 0 = the CPUs this process may use
  bool progress = true;          ///< progress lines on stderr (rank 0)
};

/// What prep_images wrote (this rank's shards; counts over all ranks).
struct ImagePrepSummary {
  data::PrepSplit train, test;  ///< this rank's files and rows
  std::vector<std::string> class_names;
  std::vector<int64_t> train_per_class, test_per_class;  ///< all ranks, after skipping
  bool split_from_folders = false;  ///< ROOT/train + ROOT/test|val (else seeded, or CSV seeded)
  int channels = 0;
  std::vector<double> mean, std;
  std::vector<std::string> skipped;  ///< all ranks' skipped paths (rank 0; others: their own)
  std::string skipped_list;          ///< OUT/skipped.txt when something was skipped
  int64_t ignored_files = 0;         ///< files in class folders without an image extension
  int rank = 0, world = 1;
  int threads = 0;
  double seconds = 0;  ///< wall time of the conversion
};

/// Converts options' images into options.out_dir (see the file comment).
///
/// Layout: ROOT/<class>/.../<file> with extension .jpg, .jpeg or .png (any case; sub-folders of
/// a class folder are walked; names starting with '.' are ignored); classes are the class
/// folder names sorted by bytes (as torchvision's ImageFolder). When ROOT holds train/ and
/// test/ (or val/) those are the split and must hold the same class folders; otherwise a
/// seeded stratified split (data::stratified_split, data/split.h) as frost-prep text's.
/// Ranks: under mpirun (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the environment) MPI is
/// initialised; every rank lists and splits identically, then takes a contiguous share of each
/// split (rows [r*n/W, (r+1)*n/W)) and writes its own shard; statistics, channel count and bad
/// images are agreed by MPI_Allreduce, so all ranks fail or succeed together.
/// Errors (frost::Error, nothing written): no class folders or image files directly in ROOT,
/// an empty class folder, fewer than 2 classes, train/test folders with different classes, a
/// CSV row whose file is missing or whose label is unknown, a split with fewer images than
/// ranks, bad options; a bad image (image_codec.h) unless skip_bad_images, whose message names
/// the path. On any failure every file written by this run (every rank's) is removed.
ImagePrepSummary prep_images(const ImagePrepOptions& options);

/// "crop" | "pad" -> ResizeMode; throws frost::Error otherwise.
ResizeMode parse_resize_mode(const std::string& s);

}  // namespace frost::image
