// Image decoding, the torchvision crop geometry and resampling (see image.h).
// JPEG through libjpeg-turbo and PNG through libpng, the decoders Pillow (and
// so torchvision) uses; stb_image 2.27, Debian 12's, writes out of bounds on
// crafted JPEG Huffman tables (nothings/stb#1289 and #1291, found again by
// fuzz/fuzz_image.cpp). The one translation unit that holds stb_image_resize's code.
#include "data/image.h"

#include <png.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include <cerrno>
#include <cmath>

#include "core/error.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

// stb_image_resize 0.97 checks that the weights of each output pixel sum to
// within 10% of 1 before it normalises them. With the triangle filter many
// shrink ratios (e.g. 349 -> 224) sum to a little outside that range and the
// check fires (nothings/stb#1449) although the normalised weights are right:
// they are the tent sampled at the source pixels and divided by their sum, as
// PIL computes them. Debug builds keep every other check of the resizer.
#ifndef NDEBUG
static void stbir_check(bool ok, const char* what, int line) {
  if (ok || std::strcmp(what, "total > 0.9f") == 0 || std::strcmp(what, "total < 1.1f") == 0) return;
  std::fprintf(stderr, "stb_image_resize.h:%d: check failed: %s\n", line, what);
  std::abort();
}
#define STBIR_ASSERT(x) stbir_check(static_cast<bool>(x), #x, __LINE__)
#else
#define STBIR_ASSERT(x) ((void)0)
#endif

#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb/stb_image_resize.h>

namespace actlab {
namespace {

int python_round(double v) { return static_cast<int>(std::nearbyint(v)); }  // half to even, as Python's round

// The largest image decoded: 2^26 pixels (8192 x 8192, 192 MiB as RGB). A
// header may claim up to 2^24 x 2^24 (stb's own cap), and a loader thread per
// core would each try to hold such an image.
constexpr int64_t kMostPixels = int64_t{1} << 26;

// False with a reason for an empty image or one over kMostPixels.
bool decodable_size(int width, int height, std::string& why) {
  if (width < 1 || height < 1) {
    why = "the image is empty";
    return false;
  }
  if (static_cast<int64_t>(width) * height <= kMostPixels) return true;
  why = "the image is " + std::to_string(width) + "x" + std::to_string(height) +
        ", more than the 67 megapixels actlab decodes";
  return false;
}

}  // namespace

namespace {

enum class Format { jpeg, png, unknown };

Format format_of(const std::vector<uint8_t>& bytes) {
  static const uint8_t kJpeg[] = {0xff, 0xd8, 0xff}, kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() >= sizeof kJpeg && std::memcmp(bytes.data(), kJpeg, sizeof kJpeg) == 0) return Format::jpeg;
  if (bytes.size() >= sizeof kPng && std::memcmp(bytes.data(), kPng, sizeof kPng) == 0) return Format::png;
  return Format::unknown;
}

// The file's bytes, or its first `limit` (none over 256 MiB is read).
bool read_bytes(const std::string& path, std::vector<uint8_t>& bytes, std::string& why,
                int64_t limit = int64_t{1} << 28) {
  struct stat info{};
  if (::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
    why = "not a readable regular file";
    return false;
  }
  if (info.st_size > (int64_t{1} << 28)) {
    why = "larger than 256 MiB";
    return false;
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    why = std::strerror(errno);
    return false;
  }
  bytes.resize(static_cast<size_t>(std::min<int64_t>(info.st_size, limit)));
  const size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  bytes.resize(got);
  return true;
}

// A TurboJPEG decompressor that frees itself.
struct Jpeg {
  tjhandle handle = tjInitDecompress();
  ~Jpeg() {
    if (handle) tjDestroy(handle);
  }
  std::string error() const { return handle ? tjGetErrorStr2(handle) : "cannot start libjpeg-turbo"; }
};

// libpng's simplified reader over a memory buffer, freed however it ends.
struct Png {
  png_image image{};
  Png() { image.version = PNG_IMAGE_VERSION; }
  ~Png() { png_image_free(&image); }
  std::string error() const { return image.message[0] ? image.message : "unknown libpng error"; }
};

// Width and height from the header alone.
bool read_header(const std::vector<uint8_t>& bytes, Format format, int& width, int& height, std::string& why) {
  if (format == Format::jpeg) {
    Jpeg jpeg;
    int subsampling = 0, colorspace = 0;
    if (jpeg.handle && tjDecompressHeader3(jpeg.handle, bytes.data(), bytes.size(), &width, &height, &subsampling,
                                           &colorspace) == 0)
      return true;
    why = jpeg.error();
    return false;
  }
  if (format == Format::png) {
    Png png;
    if (png_image_begin_read_from_memory(&png.image, bytes.data(), bytes.size())) {
      width = static_cast<int>(png.image.width);
      height = static_cast<int>(png.image.height);
      return true;
    }
    why = png.error();
    return false;
  }
  why = "not a JPEG or PNG file";
  return false;
}

}  // namespace

bool decode_image(const std::string& path, Image& image, std::string& why) {
  std::vector<uint8_t> bytes;
  if (!read_bytes(path, bytes, why)) return false;
  const Format format = format_of(bytes);
  int width = 0, height = 0;
  if (!read_header(bytes, format, width, height, why) || !decodable_size(width, height, why)) return false;
  const size_t pixels = static_cast<size_t>(width) * static_cast<size_t>(height);
  if (format == Format::jpeg) {
    // Accurate integer IDCT and fancy upsampling, as Pillow decodes; a warning
    // (a truncated or corrupt stream) fails the image, as Pillow's
    // "image file is truncated" does.
    Jpeg jpeg;
    image.rgb.resize(3 * pixels);
    if (!jpeg.handle || tjDecompress2(jpeg.handle, bytes.data(), bytes.size(), image.rgb.data(), width, 0, height,
                                      TJPF_RGB, TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING) != 0) {
      why = jpeg.error();
      return false;
    }
  } else {
    // RGBA, then the alpha dropped (as Pillow's convert("RGB") and stb did),
    // not composited onto a background.
    Png png;
    std::vector<uint8_t> rgba(4 * pixels);
    if (!png_image_begin_read_from_memory(&png.image, bytes.data(), bytes.size())) {
      why = png.error();
      return false;
    }
    png.image.format = PNG_FORMAT_RGBA;
    if (!png_image_finish_read(&png.image, nullptr, rgba.data(), 0, nullptr)) {
      why = png.error();
      return false;
    }
    image.rgb.resize(3 * pixels);
    for (size_t i = 0; i < pixels; ++i)
      for (int c = 0; c < 3; ++c) image.rgb[3 * i + c] = rgba[4 * i + c];
  }
  image.width = width;
  image.height = height;
  return true;
}

bool probe_image(const std::string& path, std::string& why) {
  // The header from the first 256 KiB, which hold it unless metadata (EXIF,
  // ICC) comes first at length; then from the whole file.
  constexpr int64_t kHead = 256 << 10;
  std::vector<uint8_t> bytes;
  if (!read_bytes(path, bytes, why, kHead)) return false;
  int width = 0, height = 0;
  if (!read_header(bytes, format_of(bytes), width, height, why)) {
    if (static_cast<int64_t>(bytes.size()) < kHead) return false;
    if (!read_bytes(path, bytes, why) || !read_header(bytes, format_of(bytes), width, height, why)) return false;
  }
  return decodable_size(width, height, why);
}

Box random_resized_crop_box(int height, int width, Random& rng) {
  constexpr double kScaleLow = 0.08, kScaleHigh = 1.0, kRatioLow = 3.0 / 4.0, kRatioHigh = 4.0 / 3.0;
  const double area = static_cast<double>(height) * width;
  const double log_low = std::log(kRatioLow), log_high = std::log(kRatioHigh);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * (kScaleLow + rng.uniform() * (kScaleHigh - kScaleLow));
    const double aspect = std::exp(log_low + rng.uniform() * (log_high - log_low));
    const int w = python_round(std::sqrt(target_area * aspect));
    const int h = python_round(std::sqrt(target_area / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int top = static_cast<int>(rng.below(static_cast<uint64_t>(height - h + 1)));
      const int left = static_cast<int>(rng.below(static_cast<uint64_t>(width - w + 1)));
      return {top, left, h, w};
    }
  }
  // Fallback: the whole image, its aspect ratio clamped into the range, centred.
  const double in_ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (in_ratio < kRatioLow) {
    h = python_round(w / kRatioLow);
  } else if (in_ratio > kRatioHigh) {
    w = python_round(h * kRatioHigh);
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

EvalGeometry eval_geometry(int height, int width, int size) {
  // torchvision's Resize(int): the short side becomes `resize`, the long side
  // int(resize · long / short) (truncated); CenterCrop rounds the offsets.
  const int resize = python_round(size / 0.875);
  EvalGeometry g;
  if (width <= height) {
    g.resized_width = resize;
    g.resized_height = static_cast<int>(static_cast<double>(resize) * height / width);
  } else {
    g.resized_height = resize;
    g.resized_width = static_cast<int>(static_cast<double>(resize) * width / height);
  }
  g.crop = {python_round((g.resized_height - size) / 2.0), python_round((g.resized_width - size) / 2.0), size, size};
  return g;
}

Image resize_box(const Image& image, const Box& box, int out_height, int out_width) {
  check(box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0 && box.top + box.height <= image.height &&
            box.left + box.width <= image.width && out_height > 0 && out_width > 0,
        "resize_box: the box or the output size does not fit the image");
  Image out;
  out.height = out_height;
  out.width = out_width;
  out.rgb.resize(static_cast<size_t>(out_height) * out_width * 3);
  const size_t stride = static_cast<size_t>(image.width) * 3;
  const uint8_t* src = image.rgb.data() + box.top * stride + static_cast<size_t>(box.left) * 3;
  if (box.height == out_height && box.width == out_width) {  // no resampling: a plain copy
    for (int y = 0; y < out_height; ++y)
      std::copy(src + y * stride, src + y * stride + static_cast<size_t>(out_width) * 3,
                out.rgb.data() + static_cast<size_t>(y) * out_width * 3);
    return out;
  }
  if (!stbir_resize_uint8_generic(src, box.width, box.height, static_cast<int>(stride), out.rgb.data(), out_width,
                                  out_height, out_width * 3, 3, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
                                  STBIR_FILTER_TRIANGLE, STBIR_COLORSPACE_LINEAR, nullptr))
    fail("resize_box: stb_image_resize failed (out of memory?)");
  return out;
}

void normalise_into(const Image& image, bool flip, const std::array<float, 3>& mean,
                    const std::array<float, 3>& stddev, float* out) {
  const int H = image.height, W = image.width;
  for (int c = 0; c < 3; ++c) {
    // The in-memory sets' formula (loader.cpp), so every data set normalises alike.
    const float scale = 1.0f / (255.0f * stddev[c]), shift = -mean[c] / stddev[c];
    float* plane = out + static_cast<size_t>(c) * H * W;
    for (int y = 0; y < H; ++y) {
      const uint8_t* row = image.rgb.data() + static_cast<size_t>(y) * W * 3 + c;
      float* dst = plane + static_cast<size_t>(y) * W;
      for (int x = 0; x < W; ++x) dst[x] = row[3 * (flip ? W - 1 - x : x)] * scale + shift;
    }
  }
}

Image resize_then_crop(const Image& image, int resized_height, int resized_width, const Box& crop) {
  check(resized_height > 0 && resized_width > 0 && crop.top >= 0 && crop.left >= 0 && crop.height > 0 &&
            crop.width > 0 && crop.top + crop.height <= resized_height && crop.left + crop.width <= resized_width,
        "resize_then_crop: the crop does not fit the resized image");
  Image out;
  out.height = crop.height;
  out.width = crop.width;
  out.rgb.resize(static_cast<size_t>(crop.height) * crop.width * 3);
  // The output window of the whole resized image: stb's shift is in output
  // pixels, so only the kept crop is computed.
  if (!stbir_resize_subpixel(image.rgb.data(), image.width, image.height, image.width * 3, out.rgb.data(), crop.width,
                             crop.height, crop.width * 3, STBIR_TYPE_UINT8, 3, STBIR_ALPHA_CHANNEL_NONE, 0,
                             STBIR_EDGE_CLAMP, STBIR_EDGE_CLAMP, STBIR_FILTER_TRIANGLE, STBIR_FILTER_TRIANGLE,
                             STBIR_COLORSPACE_LINEAR, nullptr, static_cast<float>(resized_width) / image.width,
                             static_cast<float>(resized_height) / image.height, static_cast<float>(crop.left),
                             static_cast<float>(crop.top)))
    fail("resize_then_crop: stb_image_resize failed (out of memory?)");
  return out;
}

void transform_image(const Image& image, int size, bool augment, Random& rng, const std::array<float, 3>& mean,
                     const std::array<float, 3>& stddev, float* out) {
  check(size > 0, "imagefolder: the image size must be positive (got " + std::to_string(size) + ")");
  if (augment) {
    const Box box = random_resized_crop_box(image.height, image.width, rng);
    const bool flip = rng.uniform() < 0.5;
    normalise_into(resize_box(image, box, size, size), flip, mean, stddev, out);
  } else {
    const EvalGeometry g = eval_geometry(image.height, image.width, size);
    normalise_into(resize_then_crop(image, g.resized_height, g.resized_width, g.crop), false, mean, stddev, out);
  }
}

}  // namespace actlab
