#include "frost/image/image_codec.h"

// jpeglib.h needs size_t and FILE declared first.
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include <jpeglib.h>
#include <png.h>

#include <cerrno>
#include <fstream>
#include <limits>

#include "frost/core/error.h"

namespace frost::image {
namespace {

// Largest image accepted, in pixels (a guard against a forged header asking for terabytes).
constexpr int64_t kMaxPixels = int64_t{1} << 30;

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FROST_CHECK(in.good(), path, ": cannot open the file: ", std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  FROST_CHECK(!in.bad(), path, ": cannot read the file: ", std::strerror(errno));
  return bytes;
}

// ---- JPEG (libjpeg API) ----------------------------------------------------------------------

// Note [libjpeg errors]: libjpeg reports a fatal error through error_exit, which must not
// return: it longjmps back to decode_jpeg's setjmp. Warnings (emit_message with level -1)
// include "Premature end of JPEG file", after which libjpeg would fill the rest with grey; they
// are recorded and turned into an error. Between setjmp and longjmp only C objects live (the
// output buffer is sized before setjmp), so no C++ destructor is skipped.
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool warned;
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void jpeg_emit_message(j_common_ptr cinfo, int level) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  if (level < 0 && !err->warned) {  // a warning: keep the first one
    (*cinfo->err->format_message)(cinfo, err->message);
    err->warned = true;
  }
}

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& path, int channels) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.emit_message = jpeg_emit_message;
  err.message[0] = '\0';
  err.warned = false;
  Image img;
  // Set before setjmp; read after a longjmp (volatile: see C11 7.13.2.1).
  volatile bool created = false;
  if (setjmp(err.jump)) {
    if (created) jpeg_destroy_decompress(&cinfo);
    throw Error(detail::str_cat(path, ": not a valid JPEG image (libjpeg: ", err.message, ")"));
  }
  jpeg_create_decompress(&cinfo);
  created = true;
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  const int own = cinfo.jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  const int64_t pixels = int64_t{cinfo.image_width} * cinfo.image_height;
  if (cmyk || pixels > kMaxPixels) {
    jpeg_destroy_decompress(&cinfo);
    throw Error(detail::str_cat(
        path, cmyk ? ": a CMYK JPEG, which libjpeg cannot convert to RGB; convert it to RGB first"
                   : ": the image is larger than the limit of 2^30 pixels"));
  }
  img.channels = channels == 0 ? own : channels;
  cinfo.out_color_space = img.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  img.height = cinfo.output_height;
  img.width = cinfo.output_width;
  img.pixels.resize(static_cast<size_t>(img.height * img.width * img.channels));
  const auto stride = static_cast<size_t>(img.width * img.channels);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = img.pixels.data() + cinfo.output_scanline * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  FROST_CHECK(!err.warned, path, ": a damaged or cut-off JPEG image (libjpeg: ", err.message, ")");
  return img;
}

// ---- PNG (libpng simplified API) -------------------------------------------------------------

Image decode_png(const uint8_t* data, size_t size, const std::string& path, int channels) {
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  auto fail = [&](const char* what) {
    const std::string message = png.message;
    png_image_free(&png);
    return Error(detail::str_cat(path, ": ", what, " (libpng: ", message, ")"));
  };
  if (!png_image_begin_read_from_memory(&png, data, size)) throw fail("not a valid PNG image");
  const bool alpha = (png.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  const int own = (png.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
  Image img;
  img.channels = channels == 0 ? own : channels;
  img.height = png.height;
  img.width = png.width;
  if (img.height * img.width > kMaxPixels) {
    png_image_free(&png);
    throw Error(path + ": the image is larger than the limit of 2^30 pixels");
  }
  // Read with the alpha channel when there is one (so that libpng does not composite it onto a
  // background), then drop it.
  png.format =
      (img.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB) | (alpha ? PNG_FORMAT_FLAG_ALPHA : 0);
  const int read_channels = img.channels + (alpha ? 1 : 0);
  std::vector<uint8_t> buffer(static_cast<size_t>(img.height * img.width * read_channels));
  if (!png_image_finish_read(&png, nullptr, buffer.data(), 0, nullptr))
    throw fail("a damaged or cut-off PNG image");
  // libpng warnings (e.g. "iCCP: known incorrect sRGB profile", common in valid files) are
  // not errors; a cut-off or corrupt image data stream is.
  png_image_free(&png);
  if (!alpha) {
    img.pixels = std::move(buffer);
    return img;
  }
  img.pixels.resize(static_cast<size_t>(img.height * img.width * img.channels));
  const auto n = static_cast<size_t>(img.height * img.width);
  for (size_t p = 0; p < n; ++p)
    for (int c = 0; c < img.channels; ++c)
      img.pixels[p * img.channels + c] = buffer[p * read_channels + c];
  return img;
}

void check_image(const std::string& path, const Image& image) {
  FROST_CHECK(
      (image.channels == 1 || image.channels == 3) && image.height >= 1 && image.width >= 1 &&
          image.pixels.size() == static_cast<size_t>(image.height * image.width * image.channels),
      path, ": cannot write an image of ", image.height, "x", image.width, "x", image.channels,
      " with ", image.pixels.size(), " bytes");
}

}  // namespace

Image decode_image_bytes(const uint8_t* data, size_t size, const std::string& path, int channels) {
  FROST_CHECK(channels == 0 || channels == 1 || channels == 3,
              "decode_image: channels must be 0, "
              "1 or 3, got ",
              channels);
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && std::memcmp(data, kPng, 8) == 0) return decode_png(data, size, path, channels);
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
    return decode_jpeg(data, size, path, channels);
  throw Error(detail::str_cat(
      path, ": not a JPEG or PNG image (",
      size == 0 ? "an empty file" : "its first bytes are neither JPEG's nor PNG's", ")"));
}

Image decode_image(const std::string& path, int channels) {
  const std::vector<uint8_t> bytes = read_file(path);
  return decode_image_bytes(bytes.data(), bytes.size(), path, channels);
}

void write_png(const std::string& path, const Image& image) {
  check_image(path, image);
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = image.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&png, path.c_str(), 0, image.pixels.data(), 0, nullptr)) {
    const std::string message = png.message;
    png_image_free(&png);
    throw Error(detail::str_cat(path, ": cannot write the PNG file (libpng: ", message, ")"));
  }
}

void write_jpeg(const std::string& path, const Image& image, int quality) {
  check_image(path, image);
  FROST_CHECK(quality >= 1 && quality <= 100, path, ": JPEG quality must be in [1, 100], got ",
              quality);
  std::FILE* volatile file = std::fopen(path.c_str(), "wb");
  FROST_CHECK(file != nullptr, path, ": cannot create the file: ", std::strerror(errno));
  jpeg_compress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.emit_message = jpeg_emit_message;
  err.message[0] = '\0';
  err.warned = false;
  if (setjmp(err.jump)) {  // Note [libjpeg errors]
    jpeg_destroy_compress(&cinfo);
    std::fclose(file);
    throw Error(detail::str_cat(path, ": cannot write the JPEG file (libjpeg: ", err.message, ")"));
  }
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, file);
  cinfo.image_width = static_cast<JDIMENSION>(image.width);
  cinfo.image_height = static_cast<JDIMENSION>(image.height);
  cinfo.input_components = image.channels;
  cinfo.in_color_space = image.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const auto stride = static_cast<size_t>(image.width * image.channels);
  while (cinfo.next_scanline < cinfo.image_height) {
    auto* row = const_cast<JSAMPROW>(image.pixels.data() + cinfo.next_scanline * stride);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  FROST_CHECK(std::fclose(file) == 0, path, ": cannot write the file: ", std::strerror(errno));
}

}  // namespace frost::image
