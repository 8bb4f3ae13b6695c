// Declarations of the CUDA kernels that fill the CUDA row of the kernel table
// (core/kernels.h documents each one); twins of core/cpu/cpu_kernels.h.
// Internal to core/.
#pragma once
#include "core/kernels.h"

namespace actlab::cuda {

void conv2d_forward(const ConvShape&, const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y);
void conv2d_backward(const ConvShape&, const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dx, Tensor& dw,
                     Tensor& dbias);

void batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                      Tensor& running_var, float momentum, float eps, Tensor& y, Tensor& save_mean,
                      Tensor& save_invstd);
void batch_norm_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                     const Tensor& running_var, float eps, Tensor& y);
void batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                         const Tensor& save_invstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta);

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y);
void linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dx, Tensor& dw, Tensor& db);
// The two GEMMs of linear_backward, also used by 1×1 convolutions of 1×1 maps.
void linear_input_gradient(int64_t N, int64_t in, int64_t out, const float* dy, const float* w, float* dx);
void linear_weight_gradient(int64_t N, int64_t in, int64_t out, const float* dy, const float* x, float* dw);

void max_pool2d_forward(const PoolShape&, const Tensor& x, Tensor& y, Tensor& argmax);
void max_pool2d_backward(const PoolShape&, const Tensor& dy, const Tensor& argmax, Tensor& dx);
void avg_pool2d_forward(const PoolShape&, const Tensor& x, Tensor& y);
void avg_pool2d_backward(const PoolShape&, const Tensor& dy, Tensor& dx);

void unary_forward(UnaryOp, const Tensor& x, Tensor& y);
void unary_backward(UnaryOp, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx);
void binary_forward(BinaryOp, const Tensor& a, const Tensor& b, Tensor& out);
void affine_scalar(const Tensor& x, float alpha, float beta, Tensor& y);
void sum_to(const Tensor& x, Tensor& out);
void mean_hw_forward(const Tensor& x, Tensor& y);
void mean_hw_backward(const Tensor& dy, Tensor& dx);
void shortcut_a_forward(const Tensor& x, int64_t pad, Tensor& y);
void shortcut_a_backward(const Tensor& dy, int64_t pad, Tensor& dx);

void cross_entropy_forward(const Tensor& logits, const int32_t* labels, float smoothing, Tensor& log_probs,
                           Tensor& loss);
void cross_entropy_backward(const Tensor& log_probs, const int32_t* labels, float smoothing, const Tensor& dloss,
                            Tensor& dlogits);

void sgd_step(Tensor& w, const Tensor& g, Tensor& velocity, float lr, float momentum, float weight_decay,
              bool nesterov, bool first_step);
bool all_finite(const Tensor& x);

}  // namespace actlab::cuda
