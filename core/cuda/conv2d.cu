// Convolution on the GPU through cuDNN: descriptors and algorithms are made
// once per geometry and cached. Algorithms come from cuDNN's heuristics
// (the first that fits the workspace limit; only deterministic ones under
// --deterministic), in plain fp32 math (CUDNN_FMA_MATH: no TF32). Batches
// whose tensors pass cuDNN's element limit run in slices of the batch.
#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

#include "core/cuda/cuda_common.h"
#include "core/cuda/cuda_kernels.h"

namespace actlab::cuda {
namespace {

constexpr size_t kWorkspaceLimit = size_t{1} << 30;   // 1 GiB

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t fwd_bytes = 0, bwd_data_bytes = 0, bwd_filter_bytes = 0;
};

template <class Perf>
const Perf& pick(const Perf* perf, int count, const char* what) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kWorkspaceLimit) continue;
    if (deterministic() && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
    return perf[i];
  }
  fail(std::string("cuDNN offers no ") + (deterministic() ? "deterministic " : "") + what +
       " algorithm for this convolution within the workspace limit");
}

ConvPlan make_plan(const ConvShape& s) {
  ConvPlan p;
  const int N = static_cast<int>(s.N), C = static_cast<int>(s.C), H = static_cast<int>(s.H),
            W = static_cast<int>(s.W), K = static_cast<int>(s.K), R = static_cast<int>(s.R),
            S = static_cast<int>(s.S), P = static_cast<int>(s.P), Q = static_cast<int>(s.Q);
  check(cudnnCreateTensorDescriptor(&p.x), "cudnnCreateTensorDescriptor");
  check(cudnnCreateTensorDescriptor(&p.y), "cudnnCreateTensorDescriptor");
  check(cudnnCreateTensorDescriptor(&p.bias), "cudnnCreateTensorDescriptor");
  check(cudnnCreateFilterDescriptor(&p.w), "cudnnCreateFilterDescriptor");
  check(cudnnCreateConvolutionDescriptor(&p.conv), "cudnnCreateConvolutionDescriptor");
  check(cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, C, H, W), "conv input descriptor");
  check(cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, K, P, Q), "conv output descriptor");
  check(cudnnSetTensor4dDescriptor(p.bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, K, 1, 1), "conv bias descriptor");
  check(cudnnSetFilter4dDescriptor(p.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, K, C / s.groups, R, S),
        "conv filter descriptor");
  check(cudnnSetConvolution2dDescriptor(p.conv, s.pad, s.pad, s.stride, s.stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                        CUDNN_DATA_FLOAT),
        "conv descriptor");
  check(cudnnSetConvolutionGroupCount(p.conv, s.groups), "cudnnSetConvolutionGroupCount");
  check(cudnnSetConvolutionMathType(p.conv, CUDNN_FMA_MATH), "cudnnSetConvolutionMathType");

  int n = 0;
  cudnnConvolutionFwdAlgoPerf_t fwd[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  check(cudnnGetConvolutionForwardAlgorithm_v7(cudnn(), p.x, p.w, p.conv, p.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n,
                                               fwd),
        "cudnnGetConvolutionForwardAlgorithm_v7");
  const auto& f = pick(fwd, n, "forward");
  p.fwd = f.algo;
  check(cudnnGetConvolutionForwardWorkspaceSize(cudnn(), p.x, p.w, p.conv, p.y, p.fwd, &p.fwd_bytes),
        "cudnnGetConvolutionForwardWorkspaceSize");

  cudnnConvolutionBwdDataAlgoPerf_t bd[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
  check(cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnn(), p.w, p.y, p.conv, p.x,
                                                    CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, bd),
        "cudnnGetConvolutionBackwardDataAlgorithm_v7");
  p.bwd_data = pick(bd, n, "backward-data").algo;
  check(cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn(), p.w, p.y, p.conv, p.x, p.bwd_data, &p.bwd_data_bytes),
        "cudnnGetConvolutionBackwardDataWorkspaceSize");

  cudnnConvolutionBwdFilterAlgoPerf_t bf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
  check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnn(), p.x, p.y, p.conv, p.w,
                                                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, bf),
        "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
  p.bwd_filter = pick(bf, n, "backward-filter").algo;
  check(cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnn(), p.x, p.y, p.conv, p.w, p.bwd_filter,
                                                       &p.bwd_filter_bytes),
        "cudnnGetConvolutionBackwardFilterWorkspaceSize");
  return p;
}

const ConvPlan& plan(const ConvShape& s) {
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int, int, bool>;
  static std::mutex mutex;
  static std::map<Key, ConvPlan> plans;
  const Key key{s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad, s.groups, deterministic()};
  std::lock_guard lock(mutex);
  auto it = plans.find(key);
  if (it == plans.end()) it = plans.emplace(key, make_plan(s)).first;
  return it->second;
}

// dbias[k] = Σ over samples and pixels of dy[n, k, :, :]: one block per
// channel, a fixed-order tree in double (cuDNN's bias gradient took 64 µs for
// a 1×1 conv on 128×16×1×1).
__global__ void bias_gradient_kernel(const float* dy, float* dbias, int64_t N, int64_t K, int64_t PQ) {
  const int64_t k = blockIdx.x;
  double sum = 0.0;
  for (int64_t j = threadIdx.x; j < N * PQ; j += blockDim.x) {
    const int64_t n = j / PQ, h = j - n * PQ;
    sum += dy[(n * K + k) * PQ + h];
  }
  sum = block_sum(sum);
  if (threadIdx.x == 0) dbias[k] = static_cast<float>(sum);
}

// A 1×1 convolution of 1×1 maps (the generators of Meta-ACON and DyReLU) is
// a fully connected layer: cuBLAS and the linear kernels do it with a
// fraction of cuDNN's per-call host work.
bool is_fully_connected(const ConvShape& s) {
  return s.R == 1 && s.S == 1 && s.H == 1 && s.W == 1 && s.pad == 0 && s.groups == 1;
}

// Workspace from the caching allocator; an empty tensor when none is needed.
Tensor workspace(size_t bytes) { return bytes ? scratch(static_cast<int64_t>((bytes + 3) / 4)) : Tensor(); }
void* pointer(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

// cuDNN takes at most cudnn_element_limit() elements in a tensor, so a larger
// batch runs in slices: calls f(slice, x_offset, y_offset) with slice.N
// samples each (the last slice may be smaller), in order; the offsets are the
// slice's first element in the input (x, dx) and the output (y, dy).
template <class F>
void for_each_slice(const ConvShape& s, F&& f) {
  const int64_t per_sample = std::max(s.C * s.H * s.W, s.K * s.P * s.Q);
  actlab::check(per_sample <= cudnn_element_limit(),
                "a convolution on the GPU: one sample's " + std::to_string(s.C) + "x" + std::to_string(s.H) + "x" +
                    std::to_string(s.W) + " input or " + std::to_string(s.K) + "x" + std::to_string(s.P) + "x" +
                    std::to_string(s.Q) + " output holds more than the " + std::to_string(cudnn_element_limit()) +
                    " elements cuDNN takes in one tensor");
  const int64_t most = cudnn_element_limit() / per_sample;
  for (int64_t n = 0; n < s.N; n += most) {
    ConvShape slice = s;
    slice.N = std::min(most, s.N - n);
    f(slice, n * s.C * s.H * s.W, n * s.K * s.P * s.Q);
  }
}

void backward_input(const ConvShape& s, const Tensor& dy, const Tensor& w, Tensor& dx) {
  if (is_fully_connected(s)) return linear_input_gradient(s.N, s.C, s.K, dy.data(), w.data(), dx.data());
  const float one = 1.0f, zero = 0.0f;
  for_each_slice(s, [&](const ConvShape& slice, int64_t in, int64_t out) {
    const ConvPlan& p = plan(slice);
    Tensor ws = workspace(p.bwd_data_bytes);
    check(cudnnConvolutionBackwardData(cudnn(), &one, p.w, w.data(), p.y, dy.data() + out, p.conv, p.bwd_data,
                                       pointer(ws), p.bwd_data_bytes, &zero, p.x, dx.data() + in),
          "cudnnConvolutionBackwardData");
  });
}

void backward_weight(const ConvShape& s, const Tensor& dy, const Tensor& x, Tensor& dw, Tensor& dbias) {
  if (is_fully_connected(s)) {
    linear_weight_gradient(s.N, s.C, s.K, dy.data(), x.data(), dw.data());
  } else {
    // The first slice writes dw, later ones add to it.
    const float one = 1.0f, zero = 0.0f;
    for_each_slice(s, [&](const ConvShape& slice, int64_t in, int64_t out) {
      const ConvPlan& p = plan(slice);
      Tensor ws = workspace(p.bwd_filter_bytes);
      check(cudnnConvolutionBackwardFilter(cudnn(), &one, p.x, x.data() + in, p.y, dy.data() + out, p.conv,
                                           p.bwd_filter, pointer(ws), p.bwd_filter_bytes, in == 0 ? &zero : &one,
                                           p.w, dw.data()),
            "cudnnConvolutionBackwardFilter");
    });
  }
  if (dbias.defined()) {
    const int64_t PQ = s.P * s.Q;
    bias_gradient_kernel<<<static_cast<unsigned>(s.K), threads_for_plane(s.N * PQ)>>>(dy.data(), dbias.data(), s.N,
                                                                                      s.K, PQ);
    check_launch("conv bias gradient");
  }
}

}  // namespace

void conv2d_forward(const ConvShape& s, const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y) {
  if (is_fully_connected(s)) {
    Tensor y2 = y.view({s.N, s.K});
    return linear_forward(x.view({s.N, s.C}), w.view({s.K, s.C}), bias, y2);
  }
  const float one = 1.0f, zero = 0.0f;
  for_each_slice(s, [&](const ConvShape& slice, int64_t in, int64_t out) {
    const ConvPlan& p = plan(slice);
    Tensor ws = workspace(p.fwd_bytes);
    check(cudnnConvolutionForward(cudnn(), &one, p.x, x.data() + in, p.w, w.data(), p.conv, p.fwd, pointer(ws),
                                  p.fwd_bytes, &zero, p.y, y.data() + out),
          "cudnnConvolutionForward");
    if (bias.defined())
      check(cudnnAddTensor(cudnn(), &one, p.bias, bias.data(), &one, p.y, y.data() + out),
            "cudnnAddTensor (conv bias)");
  });
}

void conv2d_backward(const ConvShape& s, const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dx, Tensor& dw,
                     Tensor& dbias) {
  if (dx.defined()) backward_input(s, dy, w, dx);
  if (dw.defined()) backward_weight(s, dy, x, dw, dbias);
}

}  // namespace actlab::cuda
