// Differentiable ops: forward through the kernel table, then the backward
// closure that the tape will call. Closures capture only what they need.
#include "autograd/ops.h"

#include <sstream>

#include "core/error.h"

namespace actlab::ops {
namespace {

const Kernels& K(const Var& v) { return kernels(v.device()); }

bool wants(const Node& self, size_t i) {
  return i < self.inputs.size() && self.inputs[i] && self.inputs[i]->requires_grad;
}

Tensor like(const Tensor& t) { return Tensor::empty(t.shape(), t.device()); }

void check_nchw(const Var& x, const char* op) {
  check(x.value().ndim() == 4, std::string(op) + ": expected an [N, C, H, W] input, got " + to_string(x.shape()));
}

}  // namespace

Shape broadcast_shape(const Shape& a, const Shape& b) {
  Shape out(std::max(a.size(), b.size()), 1);
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t da = i < out.size() - a.size() ? 1 : a[i - (out.size() - a.size())];
    int64_t db = i < out.size() - b.size() ? 1 : b[i - (out.size() - b.size())];
    check(da == db || da == 1 || db == 1, "cannot broadcast " + to_string(a) + " with " + to_string(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Var conv2d(const Var& x, const Var& w, const Var& bias, int stride, int pad, int groups) {
  check_nchw(x, "conv2d");
  const Shape& ws = w.shape();
  check(ws.size() == 4, "conv2d: weight must be [K, C/groups, R, S], got " + to_string(ws));
  ConvShape s{x.size(0), x.size(1), x.size(2), x.size(3), ws[0], ws[2], ws[3], 0, 0, stride, pad, groups};
  check(groups >= 1 && s.C % groups == 0 && s.K % groups == 0 && ws[1] * groups == s.C,
        "conv2d: input " + to_string(x.shape()) + " does not fit weight " + to_string(ws) + " with groups " +
            std::to_string(groups));
  s.P = (s.H + 2 * pad - s.R) / stride + 1;
  s.Q = (s.W + 2 * pad - s.S) / stride + 1;
  check(s.P > 0 && s.Q > 0, "conv2d: input " + to_string(x.shape()) + " is smaller than the kernel");
  Tensor y = Tensor::empty({s.N, s.K, s.P, s.Q}, x.device());
  const Tensor b = bias.defined() ? bias.value() : Tensor();
  K(x).conv2d_forward(s, x.value(), w.value(), b, y);
  std::ostringstream detail;
  detail << s.R << 'x' << s.S << '/' << stride << " pad " << pad;
  if (groups > 1) detail << " groups " << groups;
  return tape().record(
      "conv2d", y, {x, w, bias},
      [s, xv = x.value(), wv = w.value()](Node& self) {
        const bool weights = wants(self, 1) || wants(self, 2);
        Tensor dx = wants(self, 0) ? like(xv) : Tensor();
        Tensor dw = weights ? like(wv) : Tensor();
        Tensor db = weights && self.inputs[2] ? Tensor::empty({s.K}, wv.device()) : Tensor();
        kernels(self.grad.device()).conv2d_backward(s, self.grad, xv, wv, dx, dw, db);
        if (wants(self, 0)) self.inputs[0]->add_grad(dx);
        if (wants(self, 1)) self.inputs[1]->add_grad(dw);
        if (wants(self, 2)) self.inputs[2]->add_grad(db);
      },
      detail.str());
}

Var batch_norm(const Var& x, const Var& gamma, const Var& beta, Tensor& running_mean, Tensor& running_var,
               bool training, float momentum, float eps) {
  check(x.value().ndim() >= 2, "batch_norm: expected [N, C, ...], got " + to_string(x.shape()));
  const int64_t C = x.size(1);
  check(gamma.value().numel() == C, "batch_norm: " + std::to_string(gamma.value().numel()) +
                                        " parameters for " + std::to_string(C) + " channels");
  Tensor y = like(x.value());
  if (training) {
    check(x.value().numel() / C > 1,
          "batch_norm: training needs more than one value per channel, got input " + to_string(x.shape()));
    Tensor mean = Tensor::empty({C}, x.device()), invstd = Tensor::empty({C}, x.device());
    K(x).batch_norm_train(x.value(), gamma.value(), beta.value(), running_mean, running_var, momentum, eps, y,
                          mean, invstd);
    return tape().record(
        "batch_norm", y, {x, gamma, beta},
        [xv = x.value(), gv = gamma.value(), mean, invstd](Node& self) {
          Tensor dx = wants(self, 0) ? like(xv) : Tensor();
          Tensor dgamma = like(gv), dbeta = like(gv);
          kernels(xv.device()).batch_norm_backward(self.grad, xv, gv, mean, invstd, dx, dgamma, dbeta);
          if (wants(self, 0)) self.inputs[0]->add_grad(dx);
          if (wants(self, 1)) self.inputs[1]->add_grad(dgamma);
          if (wants(self, 2)) self.inputs[2]->add_grad(dbeta);
        },
        "train");
  }
  bool differentiate = tape().enabled() && (x.requires_grad() || gamma.requires_grad() || beta.requires_grad());
  if (!differentiate) {
    K(x).batch_norm_eval(x.value(), gamma.value(), beta.value(), running_mean, running_var, eps, y);
    return Var(y);
  }
  // Evaluation mode under the tape (rare: gradients w.r.t. a frozen BN):
  // y = γ·(x − μ)/√(σ² + ε) + β, composed from primitives with constant stats.
  Shape c11(x.value().ndim(), 1);
  c11[1] = C;
  Tensor var_eps = like(running_var), stddev = like(running_var);
  K(x).affine_scalar(running_var, 1.0f, eps, var_eps);
  K(x).unary_forward(UnaryOp::sqrt, var_eps, stddev);
  Var centered = sub(x, Var(running_mean.view(c11)));
  Var normed = div(centered, Var(stddev.view(c11)));
  return add(mul(normed, reshape(gamma, c11)), reshape(beta, c11));
}

Var linear(const Var& x, const Var& w, const Var& bias) {
  check(x.value().ndim() == 2 && w.value().ndim() == 2 && x.size(1) == w.size(1),
        "linear: input " + to_string(x.shape()) + " does not fit weight " + to_string(w.shape()));
  Tensor y = Tensor::empty({x.size(0), w.size(0)}, x.device());
  K(x).linear_forward(x.value(), w.value(), bias.defined() ? bias.value() : Tensor(), y);
  return tape().record("linear", y, {x, w, bias}, [xv = x.value(), wv = w.value()](Node& self) {
    Tensor dx = wants(self, 0) ? like(xv) : Tensor();
    Tensor dw = like(wv);
    Tensor db = self.inputs[2] ? Tensor::empty({wv.size(0)}, wv.device()) : Tensor();
    kernels(xv.device()).linear_backward(self.grad, xv, wv, dx, dw, db);
    if (wants(self, 0)) self.inputs[0]->add_grad(dx);
    if (wants(self, 1)) self.inputs[1]->add_grad(dw);
    if (wants(self, 2)) self.inputs[2]->add_grad(db);
  });
}

namespace {

PoolShape pool_shape(const Var& x, int kernel, int stride, int pad) {
  PoolShape s{x.size(0), x.size(1), x.size(2), x.size(3), 0, 0, kernel, stride, pad};
  s.P = (s.H + 2 * pad - kernel) / stride + 1;
  s.Q = (s.W + 2 * pad - kernel) / stride + 1;
  check(s.P > 0 && s.Q > 0 && pad * 2 <= kernel, "pooling: input " + to_string(x.shape()) +
                                                      " does not fit a " + std::to_string(kernel) + "x" +
                                                      std::to_string(kernel) + " window");
  return s;
}

}  // namespace

Var max_pool2d(const Var& x, int kernel, int stride, int pad) {
  check_nchw(x, "max_pool2d");
  PoolShape s = pool_shape(x, kernel, stride, pad);
  Tensor y = Tensor::empty({s.N, s.C, s.P, s.Q}, x.device());
  Tensor argmax = like(y);
  K(x).max_pool2d_forward(s, x.value(), y, argmax);
  return tape().record("max_pool2d", y, {x}, [s, argmax, xs = x.shape()](Node& self) {
    Tensor dx = Tensor::empty(xs, argmax.device());
    kernels(argmax.device()).max_pool2d_backward(s, self.grad, argmax, dx);
    self.inputs[0]->add_grad(dx);
  });
}

Var avg_pool2d(const Var& x, int kernel, int stride, int pad) {
  check_nchw(x, "avg_pool2d");
  PoolShape s = pool_shape(x, kernel, stride, pad);
  Tensor y = Tensor::empty({s.N, s.C, s.P, s.Q}, x.device());
  K(x).avg_pool2d_forward(s, x.value(), y);
  return tape().record("avg_pool2d", y, {x}, [s, xs = x.shape()](Node& self) {
    Tensor dx = Tensor::empty(xs, self.grad.device());
    kernels(dx.device()).avg_pool2d_backward(s, self.grad, dx);
    self.inputs[0]->add_grad(dx);
  });
}

Var mean_hw(const Var& x) {
  check_nchw(x, "mean_hw");
  Tensor y = Tensor::empty({x.size(0), x.size(1), 1, 1}, x.device());
  K(x).mean_hw_forward(x.value(), y);
  return tape().record("mean_hw", y, {x}, [xs = x.shape()](Node& self) {
    Tensor dx = Tensor::empty(xs, self.grad.device());
    kernels(dx.device()).mean_hw_backward(self.grad, dx);
    self.inputs[0]->add_grad(dx);
  });
}

Var shortcut_a(const Var& x, int64_t pad_channels) {
  check_nchw(x, "shortcut_a");
  Tensor y = Tensor::empty({x.size(0), x.size(1) + 2 * pad_channels, (x.size(2) + 1) / 2, (x.size(3) + 1) / 2},
                           x.device());
  K(x).shortcut_a_forward(x.value(), pad_channels, y);
  return tape().record(
      "shortcut_a", y, {x},
      [pad_channels, xs = x.shape()](Node& self) {
        Tensor dx = Tensor::empty(xs, self.grad.device());
        kernels(dx.device()).shortcut_a_backward(self.grad, pad_channels, dx);
        self.inputs[0]->add_grad(dx);
      },
      "stride 2, +" + std::to_string(2 * pad_channels) + " zero channels");
}

Var reshape(const Var& x, Shape shape) {
  Tensor y = x.value().view(std::move(shape));
  return tape().record("reshape", y, {x}, [xs = x.shape()](Node& self) {
    self.inputs[0]->add_grad(self.grad.view(xs));
  });
}

Var unary(UnaryOp op, const Var& x) {
  static const char* names[] = {"neg", "exp", "log", "sigmoid", "tanh", "relu", "square", "sqrt", "abs", "sin", "cos", "erf", "atan", "asinh"};
  Tensor y = like(x.value());
  K(x).unary_forward(op, x.value(), y);
  return tape().record(names[static_cast<int>(op)], y, {x}, [op, xv = x.value(), y](Node& self) {
    Tensor dx = like(xv);
    kernels(xv.device()).unary_backward(op, xv, y, self.grad, dx);
    self.inputs[0]->add_grad(dx);
  });
}

Var binary(BinaryOp op, const Var& a, const Var& b) {
  static const char* names[] = {"add", "sub", "mul", "div", "maximum", "minimum", "greater_equal", "less_equal"};
  check(a.device() == b.device(), std::string(names[static_cast<int>(op)]) + ": operands on different devices");
  Tensor out = Tensor::empty(broadcast_shape(a.shape(), b.shape()), a.device());
  K(a).binary_forward(op, a.value(), b.value(), out);
  return tape().record(names[static_cast<int>(op)], out, {a, b}, [op, av = a.value(), bv = b.value(), out](Node& self) {
    const Kernels& k = kernels(out.device());
    const Tensor& g = self.grad;
    // The gradient w.r.t. each operand at the broadcast shape, then summed
    // back to the operand's own shape.
    auto reduce_into = [&](size_t i, Tensor full, const Tensor& operand) {
      if (full.shape() == operand.shape()) {
        self.inputs[i]->add_grad(std::move(full));
        return;
      }
      Tensor reduced = like(operand);
      k.sum_to(full, reduced);
      self.inputs[i]->add_grad(std::move(reduced));
    };
    auto times = [&](const Tensor& x, const Tensor& y) {
      Tensor t = like(out);
      k.binary_forward(BinaryOp::mul, x, y, t);
      return t;
    };
    auto divide = [&](const Tensor& x, const Tensor& y) {
      Tensor t = like(out);
      k.binary_forward(BinaryOp::div, x, y, t);
      return t;
    };
    switch (op) {
      case BinaryOp::add:
        if (wants(self, 0)) reduce_into(0, g, av);
        if (wants(self, 1)) reduce_into(1, g, bv);
        break;
      case BinaryOp::sub:
        if (wants(self, 0)) reduce_into(0, g, av);
        if (wants(self, 1)) {
          Tensor neg = like(g);
          k.affine_scalar(g, -1.0f, 0.0f, neg);
          reduce_into(1, neg, bv);
        }
        break;
      case BinaryOp::mul:
        if (wants(self, 0)) reduce_into(0, times(g, bv), av);
        if (wants(self, 1)) reduce_into(1, times(g, av), bv);
        break;
      case BinaryOp::div:  // d(a/b)/da = 1/b, d(a/b)/db = −(a/b)/b
        if (wants(self, 0)) reduce_into(0, divide(g, bv), av);
        if (wants(self, 1)) {
          Tensor t = divide(times(g, out), bv);
          k.affine_scalar(t, -1.0f, 0.0f, t);
          reduce_into(1, t, bv);
        }
        break;
      case BinaryOp::maximum:
      case BinaryOp::minimum: {
        // The gradient goes to the operand the forward picked (a on ties).
        Tensor pick_a = like(out);
        k.binary_forward(op == BinaryOp::maximum ? BinaryOp::greater_equal : BinaryOp::less_equal, av, bv, pick_a);
        if (wants(self, 0)) reduce_into(0, times(g, pick_a), av);
        if (wants(self, 1)) {
          Tensor pick_b = like(out);
          k.affine_scalar(pick_a, -1.0f, 1.0f, pick_b);
          reduce_into(1, times(g, pick_b), bv);
        }
        break;
      }
      case BinaryOp::greater_equal:
      case BinaryOp::less_equal:
        break;  // piecewise constant: no gradient
    }
  });
}

Var affine(const Var& x, float alpha, float beta) {
  Tensor y = like(x.value());
  K(x).affine_scalar(x.value(), alpha, beta, y);
  std::ostringstream detail;
  detail << alpha << "·x + " << beta;
  return tape().record(
      "affine", y, {x},
      [alpha](Node& self) {
        Tensor dx = like(self.grad);
        kernels(dx.device()).affine_scalar(self.grad, alpha, 0.0f, dx);
        self.inputs[0]->add_grad(dx);
      },
      detail.str());
}

Var sum(const Var& x) {
  Tensor y = Tensor::empty({}, x.device());
  K(x).sum_to(x.value().view({x.value().numel()}), y);
  return tape().record("sum", y, {x}, [xs = x.shape()](Node& self) {
    self.inputs[0]->add_grad(Tensor::full(xs, self.grad.item(), self.grad.device()));
  });
}

Var mean(const Var& x) { return affine(sum(x), 1.0f / static_cast<float>(x.value().numel()), 0.0f); }

Var cross_entropy(const Var& logits, const std::vector<int32_t>& labels, float smoothing) {
  check(logits.value().ndim() == 2, "cross_entropy: logits must be [N, K], got " + to_string(logits.shape()));
  const int64_t N = logits.size(0), classes = logits.size(1);
  check(static_cast<int64_t>(labels.size()) == N, "cross_entropy: " + std::to_string(labels.size()) +
                                                      " labels for " + std::to_string(N) + " rows");
  for (int32_t label : labels)
    check(label >= 0 && label < classes, "cross_entropy: label " + std::to_string(label) + " outside [0, " +
                                             std::to_string(classes) + ")");
  Tensor log_probs = like(logits.value());
  Tensor y = Tensor::empty({}, logits.device());
  K(logits).cross_entropy_forward(logits.value(), labels.data(), smoothing, log_probs, y);
  return tape().record("cross_entropy", y, {logits}, [log_probs, labels, smoothing](Node& self) {
    Tensor dlogits = like(log_probs);
    kernels(log_probs.device()).cross_entropy_backward(log_probs, labels.data(), smoothing, self.grad, dlogits);
    self.inputs[0]->add_grad(dlogits);
  });
}

}  // namespace actlab::ops
