// torchvision's ResNet with BasicBlocks (SPEC 2.2): resnet18 and resnet34,
// and their CIFAR variants (3×3/1 stem, no max-pool).
#pragma once
#include "models/model.h"

namespace actlab {

std::shared_ptr<Model> make_resnet(int depth, bool cifar, int64_t in_channels, int64_t classes,
                                   ActivationPlan& plan, Random& rng);

}  // namespace actlab
