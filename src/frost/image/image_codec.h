// Decoding and encoding JPEG and PNG files through libjpeg-turbo (the libjpeg API) and libpng
// (its "simplified" png_image API): the codec side of `frost-prep images` (image_prep.h).
// Nothing here parses image data itself: every byte of a file goes through the two libraries,
// which are the ones Debian keeps security-patched (docs/data.md, "Library choice").
//
// Pixels are uint8, row-major height x width x channels (HWC), channels 1 (grey) or 3 (RGB).
// Thread safety: every function may run on any thread at once (no shared state).
// No LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace frost::image {

/// One decoded image: pixels[(y * width + x) * channels + c].
struct Image {
  int64_t height = 0, width = 0;
  int channels = 0;  ///< 1 or 3
  std::vector<uint8_t> pixels;
};

/// Decodes the JPEG or PNG file `path`, recognised by its first bytes (not its name).
///
/// channels: 1 or 3 - the libraries convert to it (JPEG: libjpeg's YCbCr->grey / grey->RGB;
/// PNG: libpng's, which also expands palettes and reduces 16-bit samples to 8); 0 - the file's
/// own: 1 for a grey (or grey + alpha) image, 3 otherwise. An alpha channel is dropped, as
/// PIL's Image.convert("RGB") (torchvision's ImageFolder loader) does. EXIF orientation is not
/// applied (pixels as stored).
/// Throws frost::Error whose text starts with `path` for: a file that cannot be read, one that
/// is neither JPEG nor PNG, and every error or warning of the decoder (corrupt data, a cut-off
/// file: libjpeg's "Premature end of JPEG file" is a warning that it would otherwise fill
/// with grey, so warnings count as errors), and CMYK JPEGs (no conversion to RGB in libjpeg).
Image decode_image(const std::string& path, int channels);

/// decode_image on bytes in memory; `path` names them in messages.
Image decode_image_bytes(const uint8_t* data, size_t size, const std::string& path, int channels);

/// Writes `image` as an 8-bit PNG (grey or RGB) to `path` (not atomically: for tests and
/// tools). Throws frost::Error naming `path`.
void write_png(const std::string& path, const Image& image);

/// Writes `image` as a baseline JPEG of the given quality (1-100, 4:2:0 subsampling for RGB)
/// to `path` (not atomically: for tests and tools). Throws frost::Error naming `path`.
void write_jpeg(const std::string& path, const Image& image, int quality);

}  // namespace frost::image
