// The per-op kernel table. Each backend fills one `Kernels` (cpu: core/cpu/,
// cuda: core/cuda/); the front-door functions in ops.h pick the table by the
// tensors' device, so no caller ever branches on the device.
//
// Kernels write into outputs the caller allocated with the right shape; they
// never allocate results themselves (scratch space comes from the allocator).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace actlab {

// Geometry of a 2-D convolution over NCHW input with OIHW weights.
struct ConvShape {
  int64_t N, C, H, W;     // input
  int64_t K, R, S;        // output channels, kernel height, kernel width
  int64_t P, Q;           // output height, width
  int stride, pad, groups;
};

struct PoolShape {
  int64_t N, C, H, W, P, Q;
  int kernel, stride, pad;
};

enum class UnaryOp : uint8_t { neg, exp, log, sigmoid, tanh, relu, square, sqrt, abs, sin, cos, erf, atan, asinh };
// greater_equal and less_equal give 1 or 0 (masks for max and min backward).
enum class BinaryOp : uint8_t { add, sub, mul, div, maximum, minimum, greater_equal, less_equal };

struct Kernels {
  // y = conv(x, w) + bias (bias may be undefined)
  void (*conv2d_forward)(const ConvShape&, const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y);
  // Both gradients in one call, so a backend can prepare dy once for the two: dx when defined, and dw
  // with dbias when dw is defined (dbias may be undefined). They are overwritten, not accumulated.
  void (*conv2d_backward)(const ConvShape&, const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dx,
                          Tensor& dw, Tensor& dbias);

  // Batch norm over [N, C, HW]. Training: batch statistics, saves mean and
  // 1/sqrt(var + eps) for backward, and updates running stats with momentum.
  void (*batch_norm_train)(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                           Tensor& running_var, float momentum, float eps, Tensor& y, Tensor& save_mean,
                           Tensor& save_invstd);
  void (*batch_norm_eval)(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                          const Tensor& running_var, float eps, Tensor& y);
  void (*batch_norm_backward)(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                              const Tensor& save_invstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta);

  // y[N, out] = x[N, in] · w[out, in]^T + b
  void (*linear_forward)(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y);
  void (*linear_backward)(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dx, Tensor& dw,
                          Tensor& db);

  void (*max_pool2d_forward)(const PoolShape&, const Tensor& x, Tensor& y, Tensor& argmax);
  void (*max_pool2d_backward)(const PoolShape&, const Tensor& dy, const Tensor& argmax, Tensor& dx);
  // Average pooling counts the zero padding in the divisor (PyTorch's default).
  void (*avg_pool2d_forward)(const PoolShape&, const Tensor& x, Tensor& y);
  void (*avg_pool2d_backward)(const PoolShape&, const Tensor& dy, Tensor& dx);

  // Elementwise maps and their derivatives: dx = dy · f'(x), given x and y = f(x).
  void (*unary_forward)(UnaryOp, const Tensor& x, Tensor& y);
  void (*unary_backward)(UnaryOp, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx);
  // out = a ∘ b with NumPy broadcasting (out has the broadcast shape).
  void (*binary_forward)(BinaryOp, const Tensor& a, const Tensor& b, Tensor& out);
  // y = alpha·x + beta (a scalar affine map)
  void (*affine_scalar)(const Tensor& x, float alpha, float beta, Tensor& y);
  // Sums x into out, whose shape x broadcasts to (the backward of broadcasting).
  void (*sum_to)(const Tensor& x, Tensor& out);
  // mean over H, W: [N, C, H, W] -> [N, C]; and its backward
  void (*mean_hw_forward)(const Tensor& x, Tensor& y);
  void (*mean_hw_backward)(const Tensor& dy, Tensor& dx);
  // ResNet option-A shortcut: x[:, :, ::2, ::2] with `pad` zero channels on each side.
  void (*shortcut_a_forward)(const Tensor& x, int64_t pad, Tensor& y);
  void (*shortcut_a_backward)(const Tensor& dy, int64_t pad, Tensor& dx);

  // Mean softmax cross-entropy over the batch with label smoothing; writes the
  // per-row log-softmax to `log_probs` (for backward) and the loss to the
  // one-value tensor `loss` on the same device. The backward reads its seed
  // dloss there too, so a training step never waits for the device.
  void (*cross_entropy_forward)(const Tensor& logits, const int32_t* labels, float smoothing, Tensor& log_probs,
                                Tensor& loss);
  void (*cross_entropy_backward)(const Tensor& log_probs, const int32_t* labels, float smoothing,
                                 const Tensor& dloss, Tensor& dlogits);

  // SGD with momentum (torch.optim.SGD semantics, dampening 0), in place.
  void (*sgd_step)(Tensor& w, const Tensor& g, Tensor& velocity, float lr, float momentum, float weight_decay,
                   bool nesterov, bool first_step);
  // true when every value is finite
  bool (*all_finite)(const Tensor& x);
};

const Kernels& kernels(Device device);   // throws Error if that backend is absent
const Kernels& cpu_kernels();            // core/cpu/
#ifdef ACTLAB_HAVE_CUDA
const Kernels& cuda_kernels();           // core/cuda/
#endif

// --deterministic: GPU kernels use only algorithms whose results do not vary
// from run to run (the CPU kernels always are).
void set_deterministic(bool on);
bool deterministic();

// --conv-algorithm: how the CPU runs 3x3 stride-1 convolutions. `automatic`
// lets oneDNN choose (Winograd F(4x4, 3x3) where it pays: faster, about 1e-6
// relative error against a double-precision sum); `direct` asks for direct
// kernels, as PyTorch does (about 2e-7). docs/PRECISION.md has the figures.
enum class ConvAlgorithm : uint8_t { automatic, direct };
void set_conv_algorithm(ConvAlgorithm algorithm);
ConvAlgorithm conv_algorithm();
ConvAlgorithm parse_conv_algorithm(const std::string& name);   // "auto" | "direct"; throws Error

// The most elements one cuDNN call takes in a tensor: 2^31 - 1, the limit
// PyTorch also keeps to. GPU convolutions over larger tensors run in slices
// of the batch, and batch norm over larger ones on actlab's own kernels.
// Tests lower it to reach those paths with small tensors.
int64_t cudnn_element_limit();
void set_cudnn_element_limit(int64_t limit);

// Threads used by CPU kernels (OpenMP); BLAS runs single-threaded inside them.
void set_num_threads(int threads);
int num_threads();

}  // namespace actlab
