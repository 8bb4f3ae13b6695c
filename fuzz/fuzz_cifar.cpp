// libFuzzer target: the CIFAR-10 and CIFAR-100 binary readers.
#include "core/error.h"
#include "data/dataset.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = actlab::fuzz::scratch_path("cifar");
  actlab::fuzz::write_file(path, data, size);
  for (bool cifar100 : {false, true}) {
    try {
      (void)actlab::read_cifar({path}, cifar100);
    } catch (const actlab::Error&) {
    }
  }
  return 0;
}
