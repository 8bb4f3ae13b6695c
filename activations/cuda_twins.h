// The CUDA twins of the activations' fused CPU kernels: each activation's
// `<stem>.cu` defines its functions here, and its `<stem>.cpp` calls them when
// the tensors live on the GPU. Only core headers: .cu files compile as C++17.
#pragma once
#include "core/tensor.h"

#ifdef ACTLAB_HAVE_CUDA
namespace actlab::cuda {

// relu.cu
void relu_forward(const Tensor& x, Tensor& y);
void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx);

}  // namespace actlab::cuda
#endif
