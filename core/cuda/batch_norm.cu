// Batch normalisation over [N, C, H·W] on the GPU through cuDNN's spatial
// batch norm. cuDNN normalises with the biased batch variance and updates the
// running variance with the unbiased one, as PyTorch does (SPEC 5); its saved
// inverse variance is 1/sqrt(var + eps), the same as the CPU kernel saves.
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

void check_epsilon(float eps) {
  actlab::check(eps >= CUDNN_BN_MIN_EPSILON, "batch norm on the GPU: eps " + std::to_string(eps) +
                                                 " is below cuDNN's minimum " + std::to_string(CUDNN_BN_MIN_EPSILON));
}

}  // namespace

void batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                      Tensor& running_var, float momentum, float eps, Tensor& y, Tensor& save_mean,
                      Tensor& save_invstd) {
  check_epsilon(eps);
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
  BnDescriptors d(x);
  const float one = 1.0f, zero = 0.0f;
  check(cudnnBatchNormalizationForwardInference(cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, d.data, x.data(),
                                                d.data, y.data(), d.param, gamma.data(), beta.data(),
                                                running_mean.data(), running_var.data(), eps),
        "cudnnBatchNormalizationForwardInference");
}

void batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                         const Tensor& save_invstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  BnDescriptors d(x);
  const float one = 1.0f, zero = 0.0f;
  // eps is only used when no saved statistics are passed; ours always are.
  check(cudnnBatchNormalizationBackward(cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero, d.data, x.data(),
                                        d.data, dy.data(), d.data, dx.data(), d.param, gamma.data(), dgamma.data(),
                                        dbeta.data(), CUDNN_BN_MIN_EPSILON, save_mean.data(), save_invstd.data()),
        "cudnnBatchNormalizationBackward");
}

}  // namespace actlab::cuda
