// torchvision's MobileNetV2 (SPEC 2.3; Sandler et al. 2018) with a width
// multiplier and every activation position swappable, and its CIFAR variant
// (stem stride 1, the 24-channel stage at stride 1).
#pragma once
#include "models/model.h"

namespace actlab {

struct MobileNetV2Options {
  float width = 1.0f;
  float dropout = 0.2f;
  bool cifar = false;
};

std::shared_ptr<Model> make_mobilenetv2(const MobileNetV2Options& options, int64_t in_channels, int64_t classes,
                                        ActivationPlan& plan, Random& rng);

// torchvision's _make_divisible: the nearest multiple of `divisor`, never
// below 90% of v.
int64_t make_divisible(double v, int64_t divisor = 8);

}  // namespace actlab
