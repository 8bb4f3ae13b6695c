// The elementwise maps of the kernel table (UnaryOp, BinaryOp) and the unary
// derivatives, written once for the CPU kernels and their CUDA twins.
#pragma once
#include <cmath>

#include "core/host_device.h"
#include "core/kernels.h"

namespace actlab::elementwise {

// ReLU and its gradient from the output, as PyTorch's (clamp_min and
// threshold_backward): NaN stays NaN, so a diverged network cannot report a
// finite loss, and ReLU'(0) = 0.
ACTLAB_HD inline float relu(float x) { return x <= 0.0f ? 0.0f : x; }
ACTLAB_HD inline float relu_grad(float y, float dy) { return y <= 0.0f ? 0.0f : dy; }

ACTLAB_HD inline float apply(UnaryOp op, float x) {
  switch (op) {
    case UnaryOp::neg: return -x;
    case UnaryOp::exp: return expf(x);
    case UnaryOp::log: return logf(x);
    case UnaryOp::sigmoid: return 1.0f / (1.0f + expf(-x));
    case UnaryOp::tanh: return tanhf(x);
    case UnaryOp::relu: return relu(x);
    case UnaryOp::square: return x * x;
    case UnaryOp::sqrt: return sqrtf(x);
    case UnaryOp::abs: return fabsf(x);
    case UnaryOp::sin: return sinf(x);
    case UnaryOp::cos: return cosf(x);
    case UnaryOp::erf: return erff(x);
    case UnaryOp::atan: return atanf(x);
    case UnaryOp::asinh: return asinhf(x);
  }
  return x;
}

// f'(x) given x and y = f(x)
ACTLAB_HD inline float derivative(UnaryOp op, float x, float y) {
  switch (op) {
    case UnaryOp::neg: return -1.0f;
    case UnaryOp::exp: return y;
    case UnaryOp::log: return 1.0f / x;
    case UnaryOp::sigmoid: return y * (1.0f - y);
    case UnaryOp::tanh: return 1.0f - y * y;
    case UnaryOp::relu: return relu_grad(y, 1.0f);
    case UnaryOp::square: return 2.0f * x;
    case UnaryOp::sqrt: return 0.5f / y;
    case UnaryOp::abs: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
    case UnaryOp::sin: return cosf(x);
    case UnaryOp::cos: return -sinf(x);
    case UnaryOp::erf: return 1.1283791670955126f * expf(-x * x);   // 2/√π·e^(−x²)
    case UnaryOp::atan: return 1.0f / (1.0f + x * x);
    case UnaryOp::asinh: return 1.0f / sqrtf(1.0f + x * x);
  }
  return 0.0f;
}

ACTLAB_HD inline float combine(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
    case BinaryOp::maximum: return a >= b || a != a ? a : b;   // NaN wins, as torch.maximum
    case BinaryOp::minimum: return a <= b || a != a ? a : b;
    case BinaryOp::greater_equal: return a >= b ? 1.0f : 0.0f;
    case BinaryOp::less_equal: return a <= b ? 1.0f : 0.0f;
  }
  return a;
}

}  // namespace actlab::elementwise
