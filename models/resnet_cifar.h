// The CIFAR ResNet family of He et al. 2016 (SPEC 2.1): resnet20/32/44/56/110,
// three stages of n BasicBlocks (widths 16, 32, 64), option-A shortcuts.
#pragma once
#include "models/model.h"

namespace actlab {

std::shared_ptr<Model> make_resnet_cifar(int blocks_per_stage, int64_t in_channels, int64_t classes,
                                         ActivationPlan& plan, Random& rng);

}  // namespace actlab
