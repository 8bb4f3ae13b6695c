// libFuzzer target: the IDX reader (plain or gzip). The first byte splits the
// rest into the image file and the label file.
#include "core/error.h"
#include "data/dataset.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string images = actlab::fuzz::scratch_path("idx-images"),
                           labels = actlab::fuzz::scratch_path("idx-labels");
  if (size < 1) return 0;
  const size_t split = std::min<size_t>(data[0], size - 1);
  actlab::fuzz::write_file(labels, data + 1, split);
  actlab::fuzz::write_file(images, data + 1 + split, size - 1 - split);
  try {
    (void)actlab::read_idx(images, labels);
  } catch (const actlab::Error&) {
  }
  return 0;
}
