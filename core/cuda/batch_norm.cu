// Batch normalisation over [N, C, H·W] on the GPU through cuDNN's spatial
// batch norm. cuDNN normalises with the biased batch variance and updates the
// running variance with the unbiased one, as PyTorch does (SPEC 5); its saved
// inverse variance is 1/sqrt(var + eps), the same as the CPU kernel saves.
// Tensors over cuDNN's element limit (cudnn_element_limit()) run on the own
// kernels below instead, with the same math.
#include "core/cuda/cuda_common.h"
#include "core/cuda/cuda_kernels.h"

namespace actlab::cuda {
namespace {

// Descriptors for x/y viewed as [N, C, H·W, 1] and for the [1, C, 1, 1]
// parameters; made per call (cheap, host-only).
struct BnDescriptors {
  cudnnTensorDescriptor_t data = nullptr, param = nullptr;
  explicit BnDescriptors(const Tensor& x) {
    int64_t HW = 1;
    for (int d = 2; d < x.ndim(); ++d) HW *= x.size(d);
    check(cudnnCreateTensorDescriptor(&data), "cudnnCreateTensorDescriptor");
    check(cudnnCreateTensorDescriptor(&param), "cudnnCreateTensorDescriptor");
    check(cudnnSetTensor4dDescriptor(data, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(x.size(0)),
                                     static_cast<int>(x.size(1)), static_cast<int>(HW), 1),
          "batch norm data descriptor");
    check(cudnnSetTensor4dDescriptor(param, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, static_cast<int>(x.size(1)), 1,
                                     1),
          "batch norm parameter descriptor");
  }
  ~BnDescriptors() {
    cudnnDestroyTensorDescriptor(data);
    cudnnDestroyTensorDescriptor(param);
  }
  BnDescriptors(const BnDescriptors&) = delete;
  BnDescriptors& operator=(const BnDescriptors&) = delete;
};

// Batch norm over more elements than cuDNN takes in a tensor. The statistics
// and parameter gradients come from one block per channel, summed in double
// in a fixed order (deterministic); the variance from a second pass over the
// channel, Σ(x - mean)², not E[x²] - mean².
constexpr int kChannelThreads = 1024;

bool beyond_cudnn(const Tensor& x) { return x.numel() > cudnn_element_limit(); }

// x viewed as [N, C, HW]: the element j of channel c's N·HW.
__device__ int64_t channel_element(int64_t c, int64_t j, int64_t C, int64_t HW) {
  const int64_t n = j / HW;
  return (n * C + c) * HW + (j - n * HW);
}

__global__ void statistics_kernel(const float* x, int64_t N, int64_t C, int64_t HW, float momentum, float eps,
                                  float* running_mean, float* running_var, float* save_mean, float* save_invstd) {
  const int64_t c = blockIdx.x, M = N * HW;
  double sum = 0.0;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) sum += x[channel_element(c, j, C, HW)];
  const double mean = block_all(sum) / static_cast<double>(M);
  double squares = 0.0;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
    const double d = x[channel_element(c, j, C, HW)] - mean;
    squares += d * d;
  }
  squares = block_sum(squares);
  if (threadIdx.x == 0) {
    const double var = squares / static_cast<double>(M);
    const double unbiased = M > 1 ? squares / static_cast<double>(M - 1) : var;
    save_mean[c] = static_cast<float>(mean);
    save_invstd[c] = static_cast<float>(1.0 / sqrt(var + eps));
    running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean);
    running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased);
  }
}

// y = (x - mean) · invstd · gamma + beta; in evaluation invstd comes from the
// running variance (var given, invstd null).
__global__ void normalize_kernel(const float* x, const float* mean, const float* invstd, const float* var, float eps,
                                 const float* gamma, const float* beta, int64_t total, int64_t C, int64_t HW,
                                 float* y) {
  ACTLAB_GRID_STRIDE(i, total) {
    const int64_t c = (i / HW) % C;
    const float scale = invstd ? invstd[c] : rsqrtf(var[c] + eps);
    y[i] = (x[i] - mean[c]) * scale * gamma[c] + beta[c];
  }
}

// dbeta = Σ dy and dgamma = Σ dy · x̂ per channel.
__global__ void parameter_gradient_kernel(const float* dy, const float* x, const float* mean, const float* invstd,
                                          int64_t N, int64_t C, int64_t HW, float* dgamma, float* dbeta) {
  const int64_t c = blockIdx.x, M = N * HW;
  double sum_dy = 0.0, sum_dy_xhat = 0.0;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
    const int64_t i = channel_element(c, j, C, HW);
    sum_dy += dy[i];
    sum_dy_xhat += static_cast<double>(dy[i]) * ((x[i] - mean[c]) * invstd[c]);
  }
  sum_dy = block_sum(sum_dy);
  sum_dy_xhat = block_sum(sum_dy_xhat);
  if (threadIdx.x == 0) {
    dbeta[c] = static_cast<float>(sum_dy);
    dgamma[c] = static_cast<float>(sum_dy_xhat);
  }
}

// dx = gamma · invstd · (dy - dbeta / M - x̂ · dgamma / M), M = N·HW.
__global__ void input_gradient_kernel(const float* dy, const float* x, const float* mean, const float* invstd,
                                      const float* gamma, const float* dgamma, const float* dbeta, int64_t total,
                                      int64_t C, int64_t HW, float M, float* dx) {
  ACTLAB_GRID_STRIDE(i, total) {
    const int64_t c = (i / HW) % C;
    const float xhat = (x[i] - mean[c]) * invstd[c];
    dx[i] = gamma[c] * invstd[c] * (dy[i] - dbeta[c] / M - xhat * dgamma[c] / M);
  }
}

void check_epsilon(float eps) {
  actlab::check(eps >= CUDNN_BN_MIN_EPSILON, "batch norm on the GPU: eps " + std::to_string(eps) +
                                                 " is below cuDNN's minimum " + std::to_string(CUDNN_BN_MIN_EPSILON));
}

}  // namespace

void batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                      Tensor& running_var, float momentum, float eps, Tensor& y, Tensor& save_mean,
                      Tensor& save_invstd) {
  check_epsilon(eps);
  if (beyond_cudnn(x)) {
    const Planes p = planes_of(x);
    statistics_kernel<<<static_cast<unsigned>(p.C), kChannelThreads>>>(x.data(), p.N, p.C, p.HW, momentum, eps,
                                                                        running_mean.data(), running_var.data(),
                                                                        save_mean.data(), save_invstd.data());
    check_launch("batch norm statistics");
    normalize_kernel<<<blocks_for(x.numel()), kThreads>>>(x.data(), save_mean.data(), save_invstd.data(), nullptr,
                                                          eps, gamma.data(), beta.data(), x.numel(), p.C, p.HW,
                                                          y.data());
    return check_launch("batch norm");
  }
  BnDescriptors d(x);
  const float one = 1.0f, zero = 0.0f;
  check(cudnnBatchNormalizationForwardTraining(cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, d.data, x.data(), d.data,
                                               y.data(), d.param, gamma.data(), beta.data(), momentum,
                                               running_mean.data(), running_var.data(), eps, save_mean.data(),
                                               save_invstd.data()),
        "cudnnBatchNormalizationForwardTraining");
}

void batch_norm_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                     const Tensor& running_var, float eps, Tensor& y) {
  check_epsilon(eps);
  if (beyond_cudnn(x)) {
    const Planes p = planes_of(x);
    normalize_kernel<<<blocks_for(x.numel()), kThreads>>>(x.data(), running_mean.data(), nullptr, running_var.data(),
                                                          eps, gamma.data(), beta.data(), x.numel(), p.C, p.HW,
                                                          y.data());
    return check_launch("batch norm (evaluation)");
  }
  BnDescriptors d(x);
  const float one = 1.0f, zero = 0.0f;
  check(cudnnBatchNormalizationForwardInference(cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, d.data, x.data(),
                                                d.data, y.data(), d.param, gamma.data(), beta.data(),
                                                running_mean.data(), running_var.data(), eps),
        "cudnnBatchNormalizationForwardInference");
}

void batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                         const Tensor& save_invstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  if (beyond_cudnn(x)) {
    const Planes p = planes_of(x);
    parameter_gradient_kernel<<<static_cast<unsigned>(p.C), kChannelThreads>>>(
        dy.data(), x.data(), save_mean.data(), save_invstd.data(), p.N, p.C, p.HW, dgamma.data(), dbeta.data());
    check_launch("batch norm parameter gradients");
    if (!dx.defined()) return;
    input_gradient_kernel<<<blocks_for(x.numel()), kThreads>>>(
        dy.data(), x.data(), save_mean.data(), save_invstd.data(), gamma.data(), dgamma.data(), dbeta.data(),
        x.numel(), p.C, p.HW, static_cast<float>(p.N * p.HW), dx.data());
    return check_launch("batch norm input gradient");
  }
  BnDescriptors d(x);
  const float one = 1.0f, zero = 0.0f;
  // eps is only used when no saved statistics are passed; ours always are.
  check(cudnnBatchNormalizationBackward(cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero, d.data, x.data(),
                                        d.data, dy.data(), d.data, dx.data(), d.param, gamma.data(), dgamma.data(),
                                        dbeta.data(), CUDNN_BN_MIN_EPSILON, save_mean.data(), save_invstd.data()),
        "cudnnBatchNormalizationBackward");
}

}  // namespace actlab::cuda
