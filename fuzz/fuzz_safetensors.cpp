// libFuzzer target: the safetensors reader, then a model load from what it
// accepted (names, shapes, dtypes, finiteness checked against ResNet-20).
#include "core/error.h"
#include "fuzz_input.h"
#include "models/model.h"
#include "train/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = actlab::fuzz::scratch_path("safetensors");
  actlab::fuzz::write_file(path, data, size);
  try {
    const actlab::TensorFile file = actlab::read_safetensors(path);
    for (const auto& [name, t] : file.tensors)
      if (t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16") (void)file.tensor(name);
    static auto model = [] {
      actlab::ModelConfig config;
      config.in_channels = 1;
      config.classes = 10;
      return actlab::make_model(config);
    }();
    actlab::load_model(*model, file, actlab::LoadOptions{true, {}});
  } catch (const actlab::Error&) {
  }
  return 0;
}
