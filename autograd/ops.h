// Differentiable ops: each computes its result with the kernel table and
// records its backward on the tape (forward, then the gradient closure, side
// by side in ops.cpp). These are also the primitives that reference versions
// of the activations are composed from.
#pragma once
#include <cstdint>
#include <vector>

#include "autograd/tape.h"
#include "core/kernels.h"

namespace actlab::ops {

// Convolution over NCHW with OIHW weights; bias may be an undefined Var.
Var conv2d(const Var& x, const Var& w, const Var& bias, int stride, int pad, int groups);

// Batch norm (training: batch statistics, running stats updated in place).
Var batch_norm(const Var& x, const Var& gamma, const Var& beta, Tensor& running_mean, Tensor& running_var,
               bool training, float momentum, float eps);

Var linear(const Var& x, const Var& w, const Var& bias);            // x [N, in], w [out, in]
Var max_pool2d(const Var& x, int kernel, int stride, int pad);
Var avg_pool2d(const Var& x, int kernel, int stride, int pad);
Var mean_hw(const Var& x);                                           // [N, C, H, W] -> [N, C, 1, 1]
Var shortcut_a(const Var& x, int64_t pad_channels);                  // x[:, :, ::2, ::2], zero channels
Var reshape(const Var& x, Shape shape);

Var unary(UnaryOp op, const Var& x);
inline Var relu(const Var& x) { return unary(UnaryOp::relu, x); }
inline Var sigmoid(const Var& x) { return unary(UnaryOp::sigmoid, x); }
inline Var tanh(const Var& x) { return unary(UnaryOp::tanh, x); }
inline Var exp(const Var& x) { return unary(UnaryOp::exp, x); }
inline Var log(const Var& x) { return unary(UnaryOp::log, x); }
inline Var neg(const Var& x) { return unary(UnaryOp::neg, x); }

Var binary(BinaryOp op, const Var& a, const Var& b);                 // NumPy broadcasting
inline Var add(const Var& a, const Var& b) { return binary(BinaryOp::add, a, b); }
inline Var sub(const Var& a, const Var& b) { return binary(BinaryOp::sub, a, b); }
inline Var mul(const Var& a, const Var& b) { return binary(BinaryOp::mul, a, b); }
inline Var div(const Var& a, const Var& b) { return binary(BinaryOp::div, a, b); }
inline Var maximum(const Var& a, const Var& b) { return binary(BinaryOp::maximum, a, b); }
inline Var minimum(const Var& a, const Var& b) { return binary(BinaryOp::minimum, a, b); }
Var affine(const Var& x, float alpha, float beta);                   // alpha·x + beta
inline Var scalar(float value, Device device) { return Var(Tensor::full({}, value, device)); }  // a constant

Var sum(const Var& x);                                               // all elements -> [1]
Var mean(const Var& x);

// Mean softmax cross-entropy of logits [N, K] against labels (PyTorch's
// F.cross_entropy with label_smoothing).
Var cross_entropy(const Var& logits, const std::vector<int32_t>& labels, float smoothing = 0.0f);

Shape broadcast_shape(const Shape& a, const Shape& b);               // throws Error if incompatible

}  // namespace actlab::ops
