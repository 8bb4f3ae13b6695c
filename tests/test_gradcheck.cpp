// Finite-difference checks of every op's backward on the tape.
#include <array>
#include <cmath>
#include <cstring>
#include <sstream>
#include <tuple>
#include <utility>

#include "core/kernels.h"
#include "helpers.h"
#include "layers/batch_norm.h"

using namespace actlab;
using namespace actlab::testing;

TEST_CASE("conv2d gradients match finite differences (3x3 stride 2 pad 1, groups 2, bias)") {
  Random rng(1);
  Var x(random_tensor({2, 4, 6, 5}, rng), true);
  Var w(random_tensor({6, 2, 3, 3}, rng, 0.5f), true);
  Var b(random_tensor({6}, rng), true);
  gradcheck("conv2d", {x, w, b}, [](std::vector<Var>& v) { return ops::conv2d(v[0], v[1], v[2], 2, 1, 2); });
}

TEST_CASE("conv2d gradients match finite differences (1x1 pointwise and depthwise)") {
  Random rng(2);
  Var x(random_tensor({2, 3, 4, 4}, rng), true);
  Var w(random_tensor({5, 3, 1, 1}, rng), true);
  gradcheck("conv2d 1x1", {x, w, Var()}, [](std::vector<Var>& v) { return ops::conv2d(v[0], v[1], v[2], 1, 0, 1); });
  Var wd(random_tensor({3, 1, 3, 3}, rng), true);
  gradcheck("conv2d depthwise", {x, wd, Var()},
            [](std::vector<Var>& v) { return ops::conv2d(v[0], v[1], v[2], 1, 1, 3); });
}

TEST_CASE("conv2d gradients match finite differences (width-keeping 3x3 and 5x5, stride 1)") {
  Random rng(21);
  Var x(random_tensor({2, 3, 5, 6}, rng), true);
  Var w3(random_tensor({4, 3, 3, 3}, rng, 0.5f), true), b(random_tensor({4}, rng), true);
  gradcheck("conv2d 3x3 pad 1", {x, w3, b}, [](std::vector<Var>& v) { return ops::conv2d(v[0], v[1], v[2], 1, 1, 1); });
  Var w5(random_tensor({2, 3, 5, 5}, rng, 0.3f), true);
  gradcheck("conv2d 5x5 pad 2", {x, w5, Var()}, [](std::vector<Var>& v) { return ops::conv2d(v[0], v[1], v[2], 1, 2, 1); });
}

// A convolution's geometry for the table-driven conv cases below.
struct ConvCase {
  int64_t N, C, H, W, K, R;
  int stride, pad, groups;
};

// The kernel computes dx, dw and dbias in one call so that oneDNN reorders dy once for both passes; asked
// for one of them alone it must give the same numbers, bit for bit.
TEST_CASE("conv2d_backward gives the same dx, dw and dbias asked for all of them or for one") {
  Random rng(25);
  for (const ConvCase c : {ConvCase{2, 16, 8, 8, 16, 3, 1, 1, 1}, ConvCase{2, 4, 7, 8, 6, 3, 2, 1, 2},
                           ConvCase{2, 3, 6, 6, 16, 3, 1, 1, 1}, ConvCase{2, 5, 4, 4, 3, 1, 1, 0, 1},
                           ConvCase{2, 4, 5, 5, 4, 3, 1, 1, 4}}) {
    const int64_t P = (c.H + 2 * c.pad - c.R) / c.stride + 1, Q = (c.W + 2 * c.pad - c.R) / c.stride + 1;
    const ConvShape shape{c.N, c.C, c.H, c.W, c.K, c.R, c.R, P, Q, c.stride, c.pad, c.groups};
    const Tensor x = random_tensor({c.N, c.C, c.H, c.W}, rng), w = random_tensor({c.K, c.C / c.groups, c.R, c.R}, rng);
    const Tensor dy = random_tensor({c.N, c.K, P, Q}, rng);
    const Kernels& k = kernels(Device::cpu);
    Tensor dx = Tensor::empty(x.shape()), dw = Tensor::empty(w.shape()), db = Tensor::empty({c.K});
    k.conv2d_backward(shape, dy, x, w, dx, dw, db);
    Tensor dx_alone = Tensor::empty(x.shape()), none_w, none_b;
    k.conv2d_backward(shape, dy, x, w, dx_alone, none_w, none_b);
    Tensor none_x, dw_alone = Tensor::empty(w.shape()), db_alone = Tensor::empty({c.K});
    k.conv2d_backward(shape, dy, x, w, none_x, dw_alone, db_alone);
    const auto same = [](const Tensor& a, const Tensor& b) {
      return std::memcmp(a.data(), b.data(), a.numel() * sizeof(float)) == 0;
    };
    const std::string what = "K " + std::to_string(c.K) + ", C " + std::to_string(c.C) + ", groups " +
                             std::to_string(c.groups) + ", stride " + std::to_string(c.stride);
    CHECK_MESSAGE(same(dx, dx_alone), what << ": dx");
    CHECK_MESSAGE(same(dw, dw_alone), what << ": dw");
    CHECK_MESSAGE(same(db, db_alone), what << ": dbias");
  }
}

// The definition, summed term by term: an independent reference for every
// path of the CPU kernel (oneDNN for spatial kernels and strides, GEMM for 1x1, groups).
TEST_CASE("conv2d forward equals the direct sum of its definition") {
  Random rng(22);
  for (const ConvCase c : {ConvCase{2, 3, 7, 7, 4, 3, 1, 1, 1}, ConvCase{2, 4, 6, 9, 4, 5, 1, 2, 2},
                           ConvCase{1, 3, 6, 6, 2, 3, 1, 0, 1}, ConvCase{2, 4, 7, 8, 6, 3, 2, 1, 2},
                           ConvCase{2, 5, 4, 4, 3, 1, 1, 0, 1}, ConvCase{1, 4, 5, 5, 4, 3, 1, 1, 4},
                           ConvCase{1, 2, 3, 3, 2, 3, 1, 3, 1}}) {
    const int64_t Cg = c.C / c.groups, Kg = c.K / c.groups;
    const Tensor x = random_tensor({c.N, c.C, c.H, c.W}, rng), w = random_tensor({c.K, Cg, c.R, c.R}, rng);
    NoGradScope no_grad;
    const Tensor y = ops::conv2d(Var(x), Var(w), Var(), c.stride, c.pad, c.groups).value();
    const int64_t P = y.size(2), Q = y.size(3);
    Tensor expect = Tensor::zeros(y.shape());
    for (int64_t n = 0; n < c.N; ++n)
      for (int64_t k = 0; k < c.K; ++k)
        for (int64_t p = 0; p < P; ++p)
          for (int64_t q = 0; q < Q; ++q) {
            double sum = 0.0;
            for (int64_t ci = 0; ci < Cg; ++ci)
              for (int64_t r = 0; r < c.R; ++r)
                for (int64_t t = 0; t < c.R; ++t) {
                  const int64_t h = p * c.stride - c.pad + r, v = q * c.stride - c.pad + t;
                  if (h < 0 || h >= c.H || v < 0 || v >= c.W) continue;
                  const int64_t channel = (k / Kg) * Cg + ci;
                  sum += double(x.data()[((n * c.C + channel) * c.H + h) * c.W + v]) *
                         w.data()[((k * Cg + ci) * c.R + r) * c.R + t];
                }
            expect.data()[((n * c.K + k) * P + p) * Q + q] = static_cast<float>(sum);
          }
    CHECK_CLOSE("conv2d " << c.R << "x" << c.R << " stride " << c.stride << " pad " << c.pad << " groups " << c.groups,
                y, expect, 1e-5, 1e-5);
  }
}

// At batch 64 and 16 channels oneDNN runs a 3x3 stride-1 convolution's forward and backward-data
// passes as Winograd F(4x4, 3x3) (ONEDNN_VERBOSE shows jit_wino_4x3), whose transforms round
// differently from a direct sum. Output, dx and dw against the definition summed in double.
namespace {

// ‖a − b‖ / ‖b‖ of a 3x3 convolution's output, dx and dw at batch 64 against its definition summed in
// double, with the CPU's convolutions run by `algorithm`.
std::array<double, 3> conv3x3_errors(ConvAlgorithm algorithm) {
  set_conv_algorithm(algorithm);
  Random rng(23);
  const int64_t N = 64, C = 16, K = 16, H = 16, R = 3;
  const Tensor x = random_tensor({N, C, H, H}, rng), w = random_tensor({K, C, R, R}, rng, 0.3f),
               dy = random_tensor({N, K, H, H}, rng);
  Var xv(x.clone(), true), wv(w.clone(), true);
  const Var y = ops::conv2d(xv, wv, Var(), 1, 1, 1);
  backward(ops::sum(ops::mul(y, Var(dy))));
  set_conv_algorithm(ConvAlgorithm::automatic);
  Tensor y_ref = Tensor::zeros(y.shape()), dx_ref = Tensor::zeros(x.shape()), dw_ref = Tensor::zeros(w.shape());
  std::vector<double> dx_sum(x.numel()), dw_sum(w.numel());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t p = 0; p < H; ++p)
        for (int64_t q = 0; q < H; ++q) {
          const int64_t out = ((n * K + k) * H + p) * H + q;
          double sum = 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t r = 0; r < R; ++r)
              for (int64_t t = 0; t < R; ++t) {
                const int64_t h = p - 1 + r, v = q - 1 + t;
                if (h < 0 || h >= H || v < 0 || v >= H) continue;
                const int64_t in = ((n * C + c) * H + h) * H + v, tap = ((k * C + c) * R + r) * R + t;
                sum += double(x.data()[in]) * w.data()[tap];
                dx_sum[in] += double(dy.data()[out]) * w.data()[tap];
                dw_sum[tap] += double(dy.data()[out]) * x.data()[in];
              }
          y_ref.data()[out] = static_cast<float>(sum);
        }
  for (int64_t i = 0; i < x.numel(); ++i) dx_ref.data()[i] = static_cast<float>(dx_sum[i]);
  for (int64_t i = 0; i < w.numel(); ++i) dw_ref.data()[i] = static_cast<float>(dw_sum[i]);
  return {relative_error(y.value(), y_ref), relative_error(xv.grad(), dx_ref), relative_error(wv.grad(), dw_ref)};
}

}  // namespace

TEST_CASE("a 3x3 convolution at batch 64 (Winograd in oneDNN) gives the definition's output and gradients") {
  // float32 sums land near 2e-7 of the norm and Winograd's near 1e-6; a wrong transform or tile lands
  // far above 1e-5.
  const auto [y, dx, dw] = conv3x3_errors(ConvAlgorithm::automatic);
  CHECK_MESSAGE(y < 1e-5, "output: relative error " << y);
  CHECK_MESSAGE(dx < 1e-5, "dx: relative error " << dx);
  CHECK_MESSAGE(dw < 1e-5, "dw: relative error " << dw);
}

TEST_CASE("--conv-algorithm direct runs the same convolution with direct kernels: float32 rounding only") {
  const auto winograd = conv3x3_errors(ConvAlgorithm::automatic), direct = conv3x3_errors(ConvAlgorithm::direct);
  MESSAGE("relative error, auto / direct: output " << winograd[0] << " / " << direct[0] << ", dx " << winograd[1]
                                                   << " / " << direct[1] << ", dw " << winograd[2] << " / " << direct[2]);
  // Winograd runs the forward and backward-data passes; dw is direct either way, its error that of a
  // float32 sum over N·H·W = 16,384 terms (about 1e-6 in both).
  const char* what[] = {"output", "dx"};
  for (int i = 0; i < 2; ++i) {
    CHECK_MESSAGE(direct[i] < 4e-7, what[i] << ": direct's relative error " << direct[i]);
    CHECK_MESSAGE(direct[i] <= winograd[i] * 1.01, what[i] << ": direct " << direct[i] << ", auto " << winograd[i]);
  }
  CHECK_MESSAGE(direct[2] < 1e-5, "dw: direct's relative error " << direct[2]);
}

// Depthwise convolution (groups == C == K) runs its own kernel (core/cpu/depthwise_conv.cpp). Every
// output and gradient is checked against the definition summed in double, on sizes that are no
// multiple of the vector width, odd heights at stride 2, pads 0 to 3, 5x5 and non-square kernels.
namespace {

struct DepthwiseCase {
  int64_t N, C, H, W, R, S;
  int stride, pad;
  bool bias;
};

std::string describe(const DepthwiseCase& c) {
  std::ostringstream out;
  out << "depthwise " << c.R << "x" << c.S << " stride " << c.stride << " pad " << c.pad << " on [" << c.N << ", "
      << c.C << ", " << c.H << ", " << c.W << "]" << (c.bias ? " with bias" : "");
  return out.str();
}

struct DepthwiseResult {
  Tensor y, dx, dw, db;
};

// The definition: y[n,c,p,q] = b[c] + Σ_(r,t) w[c,0,r,t]·x[n, c, p·stride − pad + r, q·stride − pad + t],
// and its gradients for the upstream gradient dy, each summed in double.
DepthwiseResult depthwise_reference(const DepthwiseCase& c, const Tensor& x, const Tensor& w, const Tensor& b,
                                    const Tensor& dy) {
  const int64_t P = (c.H + 2 * c.pad - c.R) / c.stride + 1, Q = (c.W + 2 * c.pad - c.S) / c.stride + 1;
  std::vector<double> y(c.N * c.C * P * Q), dx(x.numel(), 0.0), dw(w.numel(), 0.0), db(c.C, 0.0);
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t ch = 0; ch < c.C; ++ch)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          const int64_t out = ((n * c.C + ch) * P + p) * Q + q;
          const double g = dy.data()[out];
          double sum = c.bias ? b.data()[ch] : 0.0;
          db[ch] += g;
          for (int64_t r = 0; r < c.R; ++r)
            for (int64_t t = 0; t < c.S; ++t) {
              const int64_t h = p * c.stride - c.pad + r, v = q * c.stride - c.pad + t;
              if (h < 0 || h >= c.H || v < 0 || v >= c.W) continue;
              const int64_t in = ((n * c.C + ch) * c.H + h) * c.W + v, tap = (ch * c.R + r) * c.S + t;
              sum += double(x.data()[in]) * w.data()[tap];
              dx[in] += g * w.data()[tap];
              dw[tap] += g * x.data()[in];
            }
          y[out] = sum;
        }
  auto tensor = [](Shape shape, const std::vector<double>& v) {
    Tensor t = Tensor::empty(std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(v[i]);
    return t;
  };
  return {tensor({c.N, c.C, P, Q}, y), tensor(x.shape(), dx), tensor(w.shape(), dw), tensor({c.C}, db)};
}

// Forward and backward through the tape, seeded with dy.
DepthwiseResult depthwise_on_tape(const DepthwiseCase& c, const Tensor& x, const Tensor& w, const Tensor& b,
                                  const Tensor& dy) {
  Var xv(x.clone(), true), wv(w.clone(), true), bv = c.bias ? Var(b.clone(), true) : Var();
  Var y = ops::conv2d(xv, wv, bv, c.stride, c.pad, static_cast<int>(c.C));
  const Tensor value = y.value().clone();
  backward(y, dy);
  return {value, xv.grad(), wv.grad(), c.bias ? bv.grad() : Tensor()};
}

const DepthwiseCase kDepthwiseCases[] = {
    {3, 5, 7, 11, 3, 3, 1, 1, true},    {3, 4, 9, 13, 3, 3, 2, 1, false},  {3, 3, 8, 19, 5, 5, 1, 2, true},
    {3, 4, 11, 9, 5, 5, 2, 2, false},   {3, 2, 6, 17, 3, 3, 1, 0, true},   {3, 3, 7, 7, 3, 3, 2, 0, true},
    {3, 2, 5, 6, 3, 3, 1, 2, false},    {2, 3, 4, 5, 3, 3, 1, 3, true},    {3, 2, 9, 8, 1, 1, 2, 0, true},
    {2, 3, 6, 7, 3, 5, 1, 1, true},     {3, 2, 10, 11, 3, 3, 3, 1, false}, {2, 6, 1, 40, 1, 3, 1, 1, true},
    {3, 4, 4, 4, 3, 3, 1, 1, false},    {3, 4, 7, 7, 3, 3, 2, 1, true},    {2, 3, 33, 35, 3, 3, 2, 1, true},
    // Small outputs run with 16 channels in the vector lanes: more than one block, the last one partial.
    {2, 21, 6, 5, 3, 3, 2, 1, true},    {3, 19, 4, 4, 3, 3, 1, 1, false},  {2, 35, 5, 5, 5, 5, 1, 2, true},
    // One channel: groups == C == K == 1 takes the depthwise path too.
    {2, 1, 9, 7, 3, 3, 1, 1, true},     {3, 1, 5, 5, 3, 3, 2, 1, true},
};

}  // namespace

TEST_CASE("depthwise conv2d forward, dx, dw and dbias equal the definition summed in double") {
  Random rng(23);
  for (const DepthwiseCase& c : kDepthwiseCases) {
    const Tensor x = random_tensor({c.N, c.C, c.H, c.W}, rng), w = random_tensor({c.C, 1, c.R, c.S}, rng, 0.5f);
    const Tensor b = random_tensor({c.C}, rng);
    const int64_t P = (c.H + 2 * c.pad - c.R) / c.stride + 1, Q = (c.W + 2 * c.pad - c.S) / c.stride + 1;
    const Tensor dy = random_tensor({c.N, c.C, P, Q}, rng);
    const DepthwiseResult expect = depthwise_reference(c, x, w, b, dy), got = depthwise_on_tape(c, x, w, b, dy);
    CHECK_CLOSE(describe(c) << ": y", got.y, expect.y, 1e-5, 1e-5);
    CHECK_CLOSE(describe(c) << ": dx", got.dx, expect.dx, 1e-5, 1e-5);
    CHECK_CLOSE(describe(c) << ": dw", got.dw, expect.dw, 1e-5, 1e-5);
    if (c.bias) CHECK_CLOSE(describe(c) << ": dbias", got.db, expect.db, 1e-5, 1e-5);
    // The kernel overwrites dw and dbias, whatever they held.
    const ConvShape shape{c.N, c.C, c.H, c.W, c.C, c.R, c.S, P, Q, c.stride, c.pad, static_cast<int>(c.C)};
    Tensor dx, dw = Tensor::full(w.shape(), 7.0f), db = Tensor::full({c.C}, -3.0f);
    kernels(Device::cpu).conv2d_backward(shape, dy, x, w, dx, dw, db);
    CHECK_CLOSE(describe(c) << ": dw over a filled tensor", dw, expect.dw, 1e-5, 1e-5);
    CHECK_CLOSE(describe(c) << ": dbias over a filled tensor", db, expect.db, 1e-5, 1e-5);
  }
}

// A depthwise convolution is also a grouped one with two channels per group whose off-diagonal
// weights are zero: the grouped oneDNN path (groups = C/2) must give the same numbers.
TEST_CASE("depthwise conv2d agrees with the same convolution run as a grouped one (groups = C/2)") {
  Random rng(24);
  for (const DepthwiseCase& c : {DepthwiseCase{3, 4, 9, 13, 3, 3, 2, 1, true}, DepthwiseCase{3, 6, 8, 19, 5, 5, 1, 2, true},
                                 DepthwiseCase{2, 4, 32, 32, 3, 3, 1, 1, false}, DepthwiseCase{2, 34, 5, 5, 3, 3, 1, 1, true}}) {
    const Tensor x = random_tensor({c.N, c.C, c.H, c.W}, rng), w = random_tensor({c.C, 1, c.R, c.S}, rng, 0.5f);
    const Tensor b = random_tensor({c.C}, rng);
    const int64_t P = (c.H + 2 * c.pad - c.R) / c.stride + 1, Q = (c.W + 2 * c.pad - c.S) / c.stride + 1;
    const Tensor dy = random_tensor({c.N, c.C, P, Q}, rng);
    const DepthwiseResult got = depthwise_on_tape(c, x, w, b, dy);
    // Channel k's filter sits at position k mod 2 of its group's two input channels.
    Tensor wide = Tensor::zeros({c.C, 2, c.R, c.S});
    const int64_t RS = c.R * c.S;
    for (int64_t k = 0; k < c.C; ++k)
      std::copy(w.data() + k * RS, w.data() + (k + 1) * RS, wide.data() + (k * 2 + k % 2) * RS);
    Var xv(x.clone(), true), wv(wide, true), bv = c.bias ? Var(b.clone(), true) : Var();
    Var y = ops::conv2d(xv, wv, bv, c.stride, c.pad, static_cast<int>(c.C / 2));
    CHECK_CLOSE(describe(c) << ": y against groups C/2", got.y, y.value(), 1e-5, 1e-5);
    backward(y, dy);
    Tensor diagonal = Tensor::empty(w.shape());
    for (int64_t k = 0; k < c.C; ++k)
      std::copy(wv.grad().data() + (k * 2 + k % 2) * RS, wv.grad().data() + (k * 2 + k % 2 + 1) * RS,
                diagonal.data() + k * RS);
    CHECK_CLOSE(describe(c) << ": dx against groups C/2", got.dx, xv.grad(), 1e-5, 1e-5);
    CHECK_CLOSE(describe(c) << ": dw against groups C/2", got.dw, diagonal, 1e-5, 1e-5);
    if (c.bias) CHECK_CLOSE(describe(c) << ": dbias against groups C/2", got.db, bv.grad(), 1e-5, 1e-5);
  }
}

// dw and dbias are summed per plane, then over samples in a fixed order: the same bits whatever the
// number of threads.
TEST_CASE("depthwise conv2d gradients are bit-identical with 1, 2 and 3 threads") {
  Random rng(25);
  const int threads = num_threads();
  for (const DepthwiseCase& c : {DepthwiseCase{7, 6, 15, 21, 3, 3, 2, 1, true}, DepthwiseCase{5, 20, 4, 4, 3, 3, 1, 1, true}}) {
    const Tensor x = random_tensor({c.N, c.C, c.H, c.W}, rng), w = random_tensor({c.C, 1, c.R, c.S}, rng, 0.5f);
    const int64_t P = (c.H + 2 * c.pad - c.R) / c.stride + 1, Q = (c.W + 2 * c.pad - c.S) / c.stride + 1;
    const Tensor b = random_tensor({c.C}, rng), dy = random_tensor({c.N, c.C, P, Q}, rng);
    set_num_threads(1);
    const DepthwiseResult one = depthwise_on_tape(c, x, w, b, dy);
    for (int t : {2, 3}) {
      set_num_threads(t);
      const DepthwiseResult many = depthwise_on_tape(c, x, w, b, dy);
      for (auto [name, a, m] : {std::tuple{"y", one.y, many.y}, std::tuple{"dx", one.dx, many.dx},
                                std::tuple{"dw", one.dw, many.dw}, std::tuple{"dbias", one.db, many.db}})
        CHECK_MESSAGE(std::memcmp(a.data(), m.data(), a.numel() * sizeof(float)) == 0,
                      describe(c) << ": " << name << " with " << t << " threads differs from 1 thread");
    }
  }
  set_num_threads(threads);
}

TEST_CASE("depthwise conv2d gradients match finite differences (3x3 stride 2, 5x5 stride 1, bias)") {
  Random rng(26);
  Var x(random_tensor({3, 2, 7, 9}, rng), true);
  Var w3(random_tensor({2, 1, 3, 3}, rng, 0.5f), true), b(random_tensor({2}, rng), true);
  gradcheck("depthwise 3x3 stride 2 pad 1", {x, w3, b},
            [](std::vector<Var>& v) { return ops::conv2d(v[0], v[1], v[2], 2, 1, 2); });
  Var w5(random_tensor({2, 1, 5, 5}, rng, 0.3f), true);
  gradcheck("depthwise 5x5 stride 1 pad 2", {x, w5, b},
            [](std::vector<Var>& v) { return ops::conv2d(v[0], v[1], v[2], 1, 2, 2); });
}

TEST_CASE("batch_norm gradients match finite differences in training and evaluation mode") {
  Random rng(3);
  Var x(random_tensor({4, 3, 3, 3}, rng), true);
  Var gamma(random_tensor({3}, rng), true);
  Var beta(random_tensor({3}, rng), true);
  Tensor rm = Tensor::zeros({3}), rv = Tensor::full({3}, 1.0f);
  gradcheck("batch_norm train", {x, gamma, beta}, [&](std::vector<Var>& v) {
    return ops::batch_norm(v[0], v[1], v[2], rm, rv, true, 0.1f, 1e-5f);
  }, 1e-3, 3e-2, 5e-3);
  Tensor rm2 = Tensor::from_vector({3}, {0.1f, -0.2f, 0.3f}), rv2 = Tensor::from_vector({3}, {0.5f, 1.5f, 2.0f});
  gradcheck("batch_norm eval", {x, gamma, beta}, [&](std::vector<Var>& v) {
    return ops::batch_norm(v[0], v[1], v[2], rm2, rv2, false, 0.1f, 1e-5f);
  });
}

TEST_CASE("linear, pooling, mean_hw and shortcut_a gradients match finite differences") {
  Random rng(4);
  Var x(random_tensor({3, 5}, rng), true), w(random_tensor({4, 5}, rng), true), b(random_tensor({4}, rng), true);
  gradcheck("linear", {x, w, b}, [](std::vector<Var>& v) { return ops::linear(v[0], v[1], v[2]); });
  Var img(random_tensor({2, 3, 7, 7}, rng), true);
  gradcheck("max_pool2d", {img}, [](std::vector<Var>& v) { return ops::max_pool2d(v[0], 3, 2, 1); });
  gradcheck("avg_pool2d", {img}, [](std::vector<Var>& v) { return ops::avg_pool2d(v[0], 3, 2, 1); });
  gradcheck("mean_hw", {img}, [](std::vector<Var>& v) { return ops::mean_hw(v[0]); });
  Var even(random_tensor({2, 4, 6, 6}, rng), true);
  gradcheck("shortcut_a", {even}, [](std::vector<Var>& v) { return ops::shortcut_a(v[0], 2); });
}

// exp, sigmoid, tanh, sin, cos, erf and atan run through vector_math.h (SLEEF, libmvec) over chunks; they
// must give the C library's values over the whole line, overflow and underflow included.
TEST_CASE("the vectorised unary maps give the C library's values: a fine grid, 0 and far out") {
  std::vector<float> values;
  for (int i = 0; i < 40000; ++i) values.push_back(-100.0f + 200.0f * static_cast<float>(i) / 40000.0f);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-4f, 88.7f, 89.0f, -103.0f, -104.0f, 1e6f, -1e6f, 1e30f, -1e30f})
    values.push_back(v);
  const Tensor x = Tensor::from_vector({static_cast<int64_t>(values.size())}, values);
  const std::pair<UnaryOp, double (*)(double)> maps[] = {
      {UnaryOp::exp, [](double v) { return std::exp(v); }},
      {UnaryOp::sigmoid, [](double v) { return 1.0 / (1.0 + std::exp(-v)); }},
      {UnaryOp::tanh, [](double v) { return std::tanh(v); }},
      {UnaryOp::sin, [](double v) { return std::sin(v); }},
      {UnaryOp::cos, [](double v) { return std::cos(v); }},
      {UnaryOp::erf, [](double v) { return std::erf(v); }},
      {UnaryOp::atan, [](double v) { return std::atan(v); }}};
  for (const auto& [op, reference] : maps) {
    NoGradScope no_grad;
    const std::vector<float> y = ops::unary(op, Var(x)).value().to_vector();
    int wrong = 0;
    for (size_t i = 0; i < values.size() && wrong < 5; ++i) {
      // float(reference) rounds the double value as the kernel must; 4 ulp of slack for the libraries.
      const float want = static_cast<float>(reference(values[i]));
      const bool ok = y[i] == want || std::fabs(y[i] - want) <= 5e-7f * std::fabs(want) + 1e-37f;
      CHECK_MESSAGE(ok, "unary op " << static_cast<int>(op) << " at " << values[i] << ": " << y[i] << ", want "
                                    << want);
      wrong += !ok;
    }
  }
}

TEST_CASE("elementwise ops with broadcasting match finite differences") {
  Random rng(5);
  Var a(random_tensor({2, 3, 4, 4}, rng), true);
  Var c(random_tensor({1, 3, 1, 1}, rng), true);
  Var n(random_tensor({2, 3, 1, 1}, rng), true);
  Var positive(Tensor::full({2, 3, 4, 4}, 2.0f), true);
  gradcheck("add", {a, c}, [](std::vector<Var>& v) { return ops::add(v[0], v[1]); });
  gradcheck("sub", {a, n}, [](std::vector<Var>& v) { return ops::sub(v[0], v[1]); });
  gradcheck("mul", {a, c}, [](std::vector<Var>& v) { return ops::mul(v[0], v[1]); });
  gradcheck("div", {a, positive}, [](std::vector<Var>& v) { return ops::div(v[0], v[1]); });
  gradcheck("maximum", {a, c}, [](std::vector<Var>& v) { return ops::maximum(v[0], v[1]); });
  gradcheck("minimum", {a, n}, [](std::vector<Var>& v) { return ops::minimum(v[0], v[1]); });
  for (UnaryOp op : {UnaryOp::sigmoid, UnaryOp::tanh, UnaryOp::exp, UnaryOp::neg, UnaryOp::square, UnaryOp::sin,
                     UnaryOp::cos})
    gradcheck("unary " + std::to_string(static_cast<int>(op)), {a}, [op](std::vector<Var>& v) { return ops::unary(op, v[0]); });
  gradcheck("log", {positive}, [](std::vector<Var>& v) { return ops::log(v[0]); });
  gradcheck("affine", {a}, [](std::vector<Var>& v) { return ops::affine(v[0], -1.5f, 0.25f); });
}

TEST_CASE("cross_entropy gradient matches finite differences, with and without label smoothing") {
  Random rng(6);
  Var logits(random_tensor({4, 5}, rng), true);
  const std::vector<int32_t> labels{0, 3, 4, 1};
  for (float s : {0.0f, 0.1f})
    gradcheck("cross_entropy", {logits}, [&](std::vector<Var>& v) { return ops::cross_entropy(v[0], labels, s); });
}

TEST_CASE("gradients accumulate across backward calls and the tape can be printed") {
  Var w(Tensor::from_vector({2}, {1.0f, 2.0f}), true);
  backward(ops::sum(ops::mul(w, w)), true);
  std::ostringstream out;
  tape().print(out);
  CHECK(out.str().find("mul") != std::string::npos);
  CHECK(out.str().find("sum") != std::string::npos);
  tape().clear();
  backward(ops::sum(ops::mul(w, w)));
  CHECK(w.grad().data()[0] == doctest::Approx(4.0));   // 2·w twice
  CHECK(w.grad().data()[1] == doctest::Approx(8.0));
  {
    NoGradScope no_grad;
    Var y = ops::mul(w, w);
    CHECK_FALSE(y.requires_grad());
    CHECK(tape().nodes().empty());
  }
}
