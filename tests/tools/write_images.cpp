// frost-test-images: writes real image files for the tests of `frost-prep images`.
//
//   frost-test-images fmnist IDX_DIR COUNT SPLIT_AT OUT FORMAT [IDX_OUT]
//     The first COUNT Fashion-MNIST test images (IDX_DIR/t10k-*-ubyte.gz) as FORMAT (png, or
//     jpeg at quality 95) files OUT/train/<label>/<index>.<ext> for index < SPLIT_AT and
//     OUT/test/<label>/<index>.<ext> for the others (SPLIT_AT = 0: OUT/<label>/<index>.<ext>,
//     no split). With IDX_OUT, also writes the same images as the four IDX files of
//     `frost-prep fashion-mnist` (train = index < SPLIT_AT, test = the others), each sorted by
//     (label, index): the row order of the ImageFolder conversion.
//   frost-test-images plain PATH HEIGHT WIDTH CHANNELS VALUE
//     An image of one colour VALUE (PNG or JPEG by PATH's extension).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/data/idx.h"
#include "frost/image/image_codec.h"

namespace {

void write_idx(const std::string& path, const std::vector<uint8_t>& bytes,
               const std::vector<uint32_t>& dims) {
  std::ofstream out(path, std::ios::binary);
  const uint8_t magic[4] = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  out.write(reinterpret_cast<const char*>(magic), 4);
  for (uint32_t d : dims) {
    const uint8_t be[4] = {static_cast<uint8_t>(d >> 24), static_cast<uint8_t>(d >> 16),
                           static_cast<uint8_t>(d >> 8), static_cast<uint8_t>(d)};
    out.write(reinterpret_cast<const char*>(be), 4);
  }
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  FROST_CHECK(out.good(), path, ": cannot write");
}

int fmnist(int argc, char** argv) {
  FROST_CHECK(argc == 7 || argc == 8, "usage: fmnist IDX_DIR COUNT SPLIT_AT OUT FORMAT [IDX_OUT]");
  const std::string dir = argv[2], out = argv[5], format = argv[6];
  const int64_t count = std::stoll(argv[3]), split_at = std::stoll(argv[4]);
  const auto images = frost::data::read_idx(dir + "/t10k-images-idx3-ubyte.gz");
  const auto labels = frost::data::read_idx(dir + "/t10k-labels-idx1-ubyte.gz");
  FROST_CHECK(format == "png" || format == "jpeg", "FORMAT must be png or jpeg");
  constexpr int64_t kPixels = 28 * 28;
  std::vector<std::vector<int64_t>> sides(2);  // indices of train, test
  for (int64_t i = 0; i < count; ++i) {
    const int y = labels.bytes[static_cast<size_t>(i)];
    const std::string sub = split_at == 0 ? "" : (i < split_at ? "/train" : "/test");
    const std::string folder = out + sub + "/" + std::to_string(y);
    frost::fs::create_directories(folder);
    char name[32];
    std::snprintf(name, sizeof name, "/%05lld.%s", static_cast<long long>(i),
                  format == "png" ? "png" : "jpg");
    frost::image::Image img;
    img.height = img.width = 28;
    img.channels = 1;
    img.pixels.assign(images.bytes.begin() + i * kPixels, images.bytes.begin() + (i + 1) * kPixels);
    if (format == "png")
      frost::image::write_png(folder + name, img);
    else
      frost::image::write_jpeg(folder + name, img, 95);
    sides[i < split_at ? 0 : 1].push_back(i);
  }
  if (argc == 8) {
    const std::string idx_out = argv[7];
    frost::fs::create_directories(idx_out);
    for (int s = 0; s < 2; ++s) {
      auto& idx = sides[static_cast<size_t>(s)];
      std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
        return labels.bytes[static_cast<size_t>(a)] < labels.bytes[static_cast<size_t>(b)];
      });
      std::vector<uint8_t> px, ys;
      for (int64_t i : idx) {
        px.insert(px.end(), images.bytes.begin() + i * kPixels,
                  images.bytes.begin() + (i + 1) * kPixels);
        ys.push_back(labels.bytes[static_cast<size_t>(i)]);
      }
      const std::string prefix = idx_out + (s == 0 ? "/train" : "/t10k");
      const auto n = static_cast<uint32_t>(idx.size());
      write_idx(prefix + "-images-idx3-ubyte", px, {n, 28, 28});
      write_idx(prefix + "-labels-idx1-ubyte", ys, {n});
    }
  }
  return 0;
}

int plain(int argc, char** argv) {
  FROST_CHECK(argc == 7, "usage: plain PATH HEIGHT WIDTH CHANNELS VALUE");
  const std::string path = argv[2];
  frost::image::Image img;
  img.height = std::stoll(argv[3]);
  img.width = std::stoll(argv[4]);
  img.channels = std::stoi(argv[5]);
  img.pixels.assign(static_cast<size_t>(img.height * img.width * img.channels),
                    static_cast<uint8_t>(std::stoi(argv[6])));
  if (path.size() > 4 && path.substr(path.size() - 4) == ".png")
    frost::image::write_png(path, img);
  else
    frost::image::write_jpeg(path, img, 95);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "fmnist") return fmnist(argc, argv);
    if (cmd == "plain") return plain(argc, argv);
    std::cerr << "usage: frost-test-images fmnist|plain ... (see write_images.cpp)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "frost-test-images: error: " << e.what() << "\n";
    return 1;
  }
}
