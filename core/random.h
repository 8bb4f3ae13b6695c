// A seeded generator whose streams are the same on every platform: the
// standard library's distributions are not, and SPEC 5 promises bit-identical
// runs for the same seed.
#pragma once
#include <cmath>
#include <cstdint>
#include <random>

namespace actlab {

class Random {
 public:
  explicit Random(uint64_t seed = 0) : engine_(seed) {}
  uint64_t next() { return engine_(); }
  // uniform in [0, 1)
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  float uniform(float low, float high) { return low + static_cast<float>(uniform()) * (high - low); }
  // uniform integer in [0, n)
  uint64_t below(uint64_t n) { return n ? static_cast<uint64_t>(uniform() * static_cast<double>(n)) % n : 0; }
  float normal(float mean = 0.0f, float stddev = 1.0f) {  // Box–Muller
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return mean + stddev * static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
  }
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

// splitmix64 of a combination of two values: seeds for independent streams
// (per step, per layer) derived from one run seed.
inline uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace actlab
