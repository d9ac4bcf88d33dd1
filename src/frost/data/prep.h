// Converting public datasets into Frost HDF5 files (the library side of `frost-prep`).
//
// Fashion-MNIST (Xiao et al. 2017, https://github.com/zalandoresearch/fashion-mnist) ships as
// four IDX files; prep_fashion_mnist turns a subset of its classes into
//   OUT/train.h5  and  OUT/test.h5
// with input_kind image, /inputs uint8 [N, 1, 28, 28], /labels int64 [N] relabelled
// 0..k-1 in ascending order of the kept original class ids, num_classes k, task
// classification, mean/std of pixel/255 over the KEPT TRAIN images (population std, one
// channel; the same values in both files, so test data is normalised like train data) and
// class_ids (int64 [k], the original class id of each new label).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace frost::data {

/// Number of classes in Fashion-MNIST (and MNIST).
inline constexpr int64_t kFashionMnistClasses = 10;
/// Fashion-MNIST images are kFashionMnistSide x kFashionMnistSide pixels, one channel.
inline constexpr int64_t kFashionMnistSide = 28;

/// Parses a class list: comma-separated ids and inclusive ranges, e.g. "0-4", "5,7,9",
/// "0-2,7". Returns the ids sorted ascending without duplicates, each in [0, num_classes).
/// Throws frost::Error naming the spec for bad syntax, a reversed range, an id out of range,
/// or an empty list.
std::vector<int64_t> parse_class_list(const std::string& spec, int64_t num_classes);

/// What to convert, and where to.
struct FashionMnistPrepOptions {
  std::string src_dir;           ///< holds {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
  std::string out_dir;           ///< created if missing; receives train.h5 and test.h5
  std::vector<int64_t> classes;  ///< original class ids to keep; empty = all 10
  int64_t chunk_rows = 1024;     ///< HDF5 chunk rows (see WriteOptions::chunk_rows)
};

/// One written split.
struct PrepSplit {
  std::string path;         ///< the file written
  int64_t num_samples = 0;  ///< rows in it
};

/// What prep_fashion_mnist wrote.
struct PrepSummary {
  PrepSplit train, test;
  std::vector<int64_t> class_ids;  ///< kept original class ids; new label i = class_ids[i]
  double mean = 0;                 ///< of pixel/255 over the kept train images
  double std = 0;                  ///< population std of pixel/255 over the kept train images
};

/// Converts Fashion-MNIST in options.src_dir into options.out_dir/{train,test}.h5.
///
/// Input files: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
/// t10k-labels-idx1-ubyte, each with ".gz" or without (the .gz name is tried first).
/// All four are read and validated before anything is written: images [N, 28, 28], labels [N]
/// with the same N and values < 10. Then both files are written atomically (write_dataset);
/// if writing test.h5 fails, the just-written train.h5 is removed too, so a failed run leaves
/// no output file (out_dir itself is created only once the inputs are valid).
/// Throws frost::Error naming the file at fault (bad magic, truncated, wrong dims, count
/// mismatch, bad label) or the option (no classes, chunk_rows < 1).
PrepSummary prep_fashion_mnist(const FashionMnistPrepOptions& options);

}  // namespace frost::data
