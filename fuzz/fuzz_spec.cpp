// libFuzzer target: activation and model spec strings, built into an
// activation (any registered name, any options) and run on a small input.
#include "activations/activation.h"
#include "core/error.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string spec(reinterpret_cast<const char*>(data), size);
  try {
    actlab::Random rng(1);
    auto act = actlab::make_activation(spec, 4, rng);
    act->start_epoch(1 << 20);
    actlab::NoGradScope no_grad;
    (void)(*act)(actlab::Var(actlab::Tensor::full({2, 4, 3, 3}, 0.5f)));
  } catch (const actlab::Error&) {
  }
  return 0;
}
