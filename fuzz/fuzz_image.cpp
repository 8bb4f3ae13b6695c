// libFuzzer target: an imagefolder file's path through actlab: the header
// check of the listing, the decode, then both transforms (training's
// random-resized crop and flip, evaluation's resize and centre crop) at a
// size taken from the input.
#include "core/error.h"
#include "data/image.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = actlab::fuzz::scratch_path("image");
  if (size < 2) return 0;
  const int out = 1 + data[0] % 64;
  actlab::fuzz::write_file(path, data + 1, size - 1);
  std::string why;
  actlab::Image image;
  if (!actlab::probe_image(path, why) || !actlab::decode_image(path, image, why)) return 0;
  std::vector<float> planes(3 * out * out);
  actlab::Random rng(size);
  for (bool augment : {true, false})
    actlab::transform_image(image, out, augment, rng, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, planes.data());
  return 0;
}
