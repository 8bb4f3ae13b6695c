// Decoded RGB images and the imagefolder transforms (SPEC 4): decoding with
// libjpeg-turbo and libpng (grey and RGBA become RGB), torchvision's
// RandomResizedCrop(S, scale=(0.08, 1), ratio=(3/4, 4/3)) + flip for training,
// Resize(round(S/0.875)) + CenterCrop(S) for evaluation, then ImageNet
// normalisation into a planar [3, S, S] float image.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/random.h"

namespace actlab {

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;          // [height, width, 3], row-major
};

// A rectangle of an image: rows top..top+height-1, columns left..left+width-1.
struct Box {
  int top = 0, left = 0, height = 0, width = 0;
  bool operator==(const Box&) const = default;
};

// Reads and decodes an image file; false with a reason (stb's) when it cannot.
bool decode_image(const std::string& path, Image& image, std::string& why);
// Reads only the header (cheap): false with a reason when the file is no JPEG
// or PNG that libjpeg-turbo or libpng can read.
bool probe_image(const std::string& path, std::string& why);

// torchvision's RandomResizedCrop.get_params: 10 tries of an area in
// [0.08, 1]·H·W and a log-uniform aspect ratio in [3/4, 4/3], then the centre
// crop with the ratio clamped to that range. Python's round (half to even).
Box random_resized_crop_box(int height, int width, Random& rng);
// The region of the source that Resize(short side = round(S/0.875)) followed by
// CenterCrop(S) keeps, as the resized size and the crop inside it.
struct EvalGeometry {
  int resized_height = 0, resized_width = 0;
  Box crop;                          // in the resized image
};
EvalGeometry eval_geometry(int height, int width, int size);

// Resamples `box` of `image` to out_height × out_width with stb_image_resize's
// triangle filter, widened when shrinking (the kernel of PIL's antialiased
// BILINEAR, torchvision's default), edges clamped to the box.
Image resize_box(const Image& image, const Box& box, int out_height, int out_width);
// The same filter over the whole image as if resized to resized_height ×
// resized_width, computing only `crop` of that result (the evaluation path:
// no full-size intermediate).
Image resize_then_crop(const Image& image, int resized_height, int resized_width, const Box& crop);

// Writes image (size × size) as planar normalised floats: (p/255 − mean)/std.
void normalise_into(const Image& image, bool flip, const std::array<float, 3>& mean,
                    const std::array<float, 3>& stddev, float* out);

// One training or evaluation sample of `size` pixels from a decoded image; the
// random draws (crop, then flip) come from rng.
void transform_image(const Image& image, int size, bool augment, Random& rng, const std::array<float, 3>& mean,
                     const std::array<float, 3>& stddev, float* out);

}  // namespace actlab
