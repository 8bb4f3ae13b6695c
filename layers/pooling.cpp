// Pooling layers (see pooling.h).
#include "layers/pooling.h"

#include "autograd/ops.h"

namespace actlab {

Var MaxPool2d::forward(const Var& x) { return ops::max_pool2d(x, kernel_, stride_, pad_); }
Var AvgPool2d::forward(const Var& x) { return ops::avg_pool2d(x, kernel_, stride_, pad_); }
Var GlobalAvgPool::forward(const Var& x) { return ops::reshape(ops::mean_hw(x), {x.size(0), x.size(1)}); }

}  // namespace actlab
