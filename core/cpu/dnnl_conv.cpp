// Convolutions with a spatial kernel (3×3, 7×7, strided 1×1), dense or grouped, through oneDNN: its
// AVX-512 kernels work on channel-blocked layouts (nChw16c), so each call reorders the NCHW tensors in
// and out, as PyTorch does for its NCHW tensors. The algorithm is oneDNN's choice (convolution_auto):
// Winograd F(4×4, 3×3) for the 3×3 stride-1 forward and backward-data passes where it pays, direct
// kernels elsewhere. PyTorch asks for direct ones, and so does --conv-algorithm direct; Winograd trains
// ResNet-18 1.36-1.70× faster here, at about 1e-6 relative error against 2e-7 (docs/PRECISION.md). The primitives are built once per shape
// and thread count and kept. With a fixed thread count oneDNN computes in a fixed order, so a run is
// bit-identical to the last.
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "core/cpu/cpu_kernels.h"
#include "core/error.h"

namespace actlab::cpu {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

// One tensor as actlab holds it (NCHW, OIHW, GOIHW) and as a primitive wants it, with the one reorder
// between the two that its direction needs (none where they agree): user → inner for what a primitive
// reads, inner → user for what it writes.
struct Layout {
  enum Flow { read, written };
  memory::desc user, inner;
  std::optional<dnnl::reorder> reorder;

  Layout(const memory::desc& user_desc, const memory::desc& inner_desc, Flow flow)
      : user(user_desc), inner(inner_desc) {
    if (inner == user) return;
    reorder = flow == read ? dnnl::reorder(dnnl::reorder::primitive_desc(engine(), user, engine(), inner))
                           : dnnl::reorder(dnnl::reorder::primitive_desc(engine(), inner, engine(), user));
  }

  // What the primitive reads: `t` itself, or `scratch` filled from it.
  memory in(const Tensor& t, Tensor& scratch) const {
    memory outside(user, engine(), t.data());
    if (!reorder) return outside;
    memory mine = blank(scratch);
    reorder->execute(stream(), outside, mine);
    return mine;
  }

  // Where the primitive writes: `t` itself, or `scratch`, which `out` then copies into `t`.
  memory blank_for(const Tensor& t, Tensor& scratch) const {
    return reorder ? blank(scratch) : memory(user, engine(), t.data());
  }
  void out(memory mine, const Tensor& t) const {
    if (!reorder) return;
    memory outside(user, engine(), t.data());
    reorder->execute(stream(), mine, outside);
  }

 private:
  memory blank(Tensor& scratch) const {
    scratch = Tensor::empty({static_cast<int64_t>(inner.get_size() / sizeof(float))});
    return memory(inner, engine(), scratch.data());
  }
};

memory::desc plain(const memory::dims& dims, Tag tag) { return memory::desc(dims, memory::data_type::f32, tag); }
memory::desc any(const memory::dims& dims) { return plain(dims, Tag::any); }

// The bias and its gradient stay in actlab's own layout (a plain vector of K), so they need no Layout.
struct Primitives {
  Layout x, w, y;                      // forward
  Layout dy_data, w_data, dx;          // backward data
  Layout x_weights, dy_weights, dw;    // backward weights (x reordered again: the forward's copy is not
                                       // kept between the passes; dy's copy is shared where the layouts agree)
  memory::desc bias;
  dnnl::convolution_forward forward;
  dnnl::convolution_backward_data backward_data;
  dnnl::convolution_backward_weights backward_weights;
};

Primitives build(const ConvShape& s, bool bias) {
  const memory::dims x_dims{s.N, s.C, s.H, s.W}, y_dims{s.N, s.K, s.P, s.Q}, b_dims{s.K};
  const memory::dims w_dims = s.groups == 1 ? memory::dims{s.K, s.C, s.R, s.S}
                                            : memory::dims{s.groups, s.K / s.groups, s.C / s.groups, s.R, s.S};
  const Tag w_tag = s.groups == 1 ? Tag::oihw : Tag::goihw;
  const memory::dims strides{s.stride, s.stride}, pads{s.pad, s.pad};
  const auto algorithm = conv_algorithm() == ConvAlgorithm::direct ? dnnl::algorithm::convolution_direct
                                                                    : dnnl::algorithm::convolution_auto;
  const memory::desc x_user = plain(x_dims, Tag::nchw), y_user = plain(y_dims, Tag::nchw),
                     w_user = plain(w_dims, w_tag), b_user = plain(b_dims, Tag::x);

  const auto forward_desc =
      bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algorithm, any(x_dims), any(w_dims),
                                             b_user, any(y_dims), strides, pads, pads)
           : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algorithm, any(x_dims), any(w_dims),
                                             any(y_dims), strides, pads, pads);
  const dnnl::convolution_forward::primitive_desc forward(forward_desc, engine());
  const dnnl::convolution_backward_data::primitive_desc backward_data(
      dnnl::convolution_backward_data::desc(algorithm, any(x_dims), any(w_dims), any(y_dims), strides, pads, pads),
      engine(), forward);
  const auto weights_desc =
      bias ? dnnl::convolution_backward_weights::desc(algorithm, any(x_dims), any(w_dims), b_user, any(y_dims), strides,
                                                      pads, pads)
           : dnnl::convolution_backward_weights::desc(algorithm, any(x_dims), any(w_dims), any(y_dims), strides, pads,
                                                      pads);
  const dnnl::convolution_backward_weights::primitive_desc backward_weights(weights_desc, engine(), forward);

  return Primitives{
      .x{x_user, forward.src_desc(), Layout::read},
      .w{w_user, forward.weights_desc(), Layout::read},
      .y{y_user, forward.dst_desc(), Layout::written},
      .dy_data{y_user, backward_data.diff_dst_desc(), Layout::read},
      .w_data{w_user, backward_data.weights_desc(), Layout::read},
      .dx{x_user, backward_data.diff_src_desc(), Layout::written},
      .x_weights{x_user, backward_weights.src_desc(), Layout::read},
      .dy_weights{y_user, backward_weights.diff_dst_desc(), Layout::read},
      .dw{w_user, backward_weights.diff_weights_desc(), Layout::written},
      .bias = b_user,
      .forward = dnnl::convolution_forward(forward),
      .backward_data = dnnl::convolution_backward_data(backward_data),
      .backward_weights = dnnl::convolution_backward_weights(backward_weights),
  };
}

// The primitives of one shape, bias flag and thread count (oneDNN divides the work among the threads
// it sees when a primitive is built), built on first use.
const Primitives& primitives(const ConvShape& s, bool bias) {
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int, int, bool, int,
                         ConvAlgorithm>;
  static std::mutex mutex;
  static std::map<Key, std::unique_ptr<Primitives>> cache;
  const Key key{s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad, s.groups, bias, omp_get_max_threads(),
                conv_algorithm()};
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[key];
  if (!slot) {
    try {
      slot = std::make_unique<Primitives>(build(s, bias));
    } catch (const dnnl::error& e) {
      cache.erase(key);
      fail(std::string("oneDNN cannot build this convolution: ") + e.what());
    }
  }
  return *slot;
}

}  // namespace

void dnnl_conv2d_forward(const ConvShape& s, const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y) {
  const Primitives& p = primitives(s, bias.defined());
  Tensor xs, ws, ys;
  const memory xm = p.x.in(x, xs), wm = p.w.in(w, ws), ym = p.y.blank_for(y, ys);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}};
  if (bias.defined()) args.emplace(DNNL_ARG_BIAS, memory(p.bias, engine(), bias.data()));
  p.forward.execute(stream(), args);
  p.y.out(ym, y);
  stream().wait();
}

void dnnl_conv2d_backward(const ConvShape& s, const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dx,
                          Tensor& dw, Tensor& dbias) {
  const Primitives& p = primitives(s, dbias.defined());
  Tensor dys, dys_weights, ws, dxs, xs, dws;
  std::optional<memory> dym;   // dy as backward data read it, for backward weights to reuse
  if (dx.defined()) {
    dym = p.dy_data.in(dy, dys);
    const memory wm = p.w_data.in(w, ws), dxm = p.dx.blank_for(dx, dxs);
    p.backward_data.execute(stream(), {{DNNL_ARG_DIFF_DST, *dym}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, dxm}});
    p.dx.out(dxm, dx);
  }
  if (dw.defined()) {
    if (!dym || p.dy_weights.inner != p.dy_data.inner) dym = p.dy_weights.in(dy, dys_weights);
    const memory xm = p.x_weights.in(x, xs), dwm = p.dw.blank_for(dw, dws);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, *dym}, {DNNL_ARG_DIFF_WEIGHTS, dwm}};
    if (dbias.defined()) args.emplace(DNNL_ARG_DIFF_BIAS, memory(p.bias, engine(), dbias.data()));
    p.backward_weights.execute(stream(), args);
    p.dw.out(dwm, dw);
  }
  stream().wait();
}

}  // namespace actlab::cpu
