// The CUDA twins of the activations' fused CPU kernels: each activation's
// `<stem>.cu` defines its functions here, and its `<stem>.cpp` calls them when
// the tensors live on the GPU. Only core headers: .cu files compile as C++17.
#pragma once
#include "activations/channel_math.h"
#include "activations/pointwise_math.h"
#include "core/tensor.h"

#ifdef ACTLAB_HAVE_CUDA
namespace actlab::cuda {

// relu.cu
void relu_forward(const Tensor& x, Tensor& y);
void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx);

// pointwise.cu
void pointwise_forward(Pointwise f, float option, const Tensor& x, Tensor& y);
void pointwise_backward(Pointwise f, float option, const Tensor& x, const Tensor& dy, Tensor& dx);

// acon.cu: per-channel A, B (device pointers; null A means 1, null B 0), β
// shared as `mode` says (null in BetaMode::input); null gradient pointers are
// not wanted.
void acon_forward(const Tensor& x, const float* a, const float* b, const float* beta, BetaMode mode, Tensor& y);
void acon_backward(const Tensor& x, const Tensor& dy, const float* a, const float* b, const float* beta, BetaMode mode,
                   Tensor& dx, float* da, float* db, float* dbeta);

// dyrelu.cu: coefs [N, C (or 1 when shared), 2K]; dyrelu-c's spatial attention
// from the 1×1 conv's weight [C] and bias [1] (device pointers; a null weight:
// no attention) and 1/τ.
struct DyReluAttention {
  const float* weight = nullptr;
  const float* bias = nullptr;
  float inv_tau = 0.0f;
};
void dyrelu_forward(const Tensor& x, const float* coefs, bool shared, int K, DyReluAttention attention, Tensor& y);
void dyrelu_backward(const Tensor& x, const Tensor& dy, const float* coefs, bool shared, int K,
                     DyReluAttention attention, Tensor& dx, float* dcoef, float* dweight, float* dbias);

// pwlu.cu: parameters per channel (or one row for mode=layer).
void pwlu_forward(const Tensor& x, const float* points, const float* left, const float* right,
                  const float* slope_left, const float* slope_right, int n, bool layer, Tensor& y);
void pwlu_backward(const Tensor& x, const Tensor& dy, const float* points, const float* left, const float* right,
                   const float* slope_left, const float* slope_right, int n, bool layer, Tensor& dx, float* dpoints,
                   float* dleft, float* dright, float* dslope_left, float* dslope_right);
void pwlu_statistics(const Tensor& x, bool layer, Tensor& mean, Tensor& std);

// prelu.cu: w per channel.
void prelu_forward(const Tensor& x, const float* w, Tensor& y);
void prelu_backward(const Tensor& x, const Tensor& dy, const float* w, Tensor& dx, float* dw);

}  // namespace actlab::cuda
#endif
