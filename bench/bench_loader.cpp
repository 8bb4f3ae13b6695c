// Throughput of the imagefolder loader: decode (libjpeg-turbo, libpng) + random-resized-crop
// + flip + normalise, on --threads worker threads, as training runs it. Without
// --dir it writes --count JPEGs of ImageNet's typical size (500×375, quality 90,
// photo-like content: smooth shapes, gradients and sensor noise, so the decoder
// does real work) into a temporary imagefolder. Prints one JSON line: median
// images/s over --runs passes (files in the page cache after the first pass),
// and the single-thread split between decoding and transforming.
//   bench_loader [--dir DIR] [--count N] [--threads T] [--size S] [--batch B] [--runs R] [--eval]
// With --write-tree DIR it only writes an imagefolder of --classes classes
// (--count training and --val validation images each) whose classes differ
// in colour cast, so a model can learn them, and exits:
//   bench_loader --write-tree DIR --classes 10 --count 50 --val 10 [--image 160x120]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/image.h"
#include "data/imagefolder.h"
#include "data/loader.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

using namespace actlab;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Value noise in luminance (where natural images keep their detail; JPEG
// subsamples chroma): a random grid every `cell` pixels, bilinearly interpolated.
void add_value_noise(std::vector<float>& rgb, int width, int height, int cell, float amplitude, Random& rng) {
  const int gw = width / cell + 2, gh = height / cell + 2;
  std::vector<float> grid(static_cast<size_t>(gw) * gh);
  for (float& g : grid) g = rng.uniform(-amplitude, amplitude);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const int gx = x / cell, gy = y / cell;
      const float fx = static_cast<float>(x % cell) / cell, fy = static_cast<float>(y % cell) / cell;
      auto at = [&](int i, int j) { return grid[static_cast<size_t>(j) * gw + i]; };
      const float v = (at(gx, gy) * (1 - fx) + at(gx + 1, gy) * fx) * (1 - fy) +
                      (at(gx, gy + 1) * (1 - fx) + at(gx + 1, gy + 1) * fx) * fy;
      for (int c = 0; c < 3; ++c) rgb[(static_cast<size_t>(y) * width + x) * 3 + c] += v;
    }
}

// A 500×375 picture: a sky-to-ground gradient, soft-edged ellipses in random
// colours with a fine texture, value noise at several scales (roughly the 1/f
// spectrum of natural images) and sensor noise.
// With klass ≥ 0 the whole picture is tinted towards that class's hue.
std::vector<uint8_t> photo_like(int width, int height, Random& rng, int klass = -1, int classes = 1) {
  std::vector<float> rgb(static_cast<size_t>(width) * height * 3);
  float top[3], bottom[3];
  for (int c = 0; c < 3; ++c) top[c] = rng.uniform(60, 230), bottom[c] = rng.uniform(20, 160);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) {
        const float t = static_cast<float>(y) / height;
        rgb[(static_cast<size_t>(y) * width + x) * 3 + c] = top[c] * (1 - t) + bottom[c] * t;
      }
  for (int shape = 0; shape < 12; ++shape) {
    const float cx = rng.uniform(0, width), cy = rng.uniform(0, height);
    const float rx = rng.uniform(10, width / 3.0f), ry = rng.uniform(10, height / 3.0f);
    const float colour[3] = {rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255)};
    const float freq = rng.uniform(0.05f, 0.5f), phase = rng.uniform(0, 6.3f);
    for (int y = std::max(0, static_cast<int>(cy - ry)); y < std::min(height, static_cast<int>(cy + ry)); ++y)
      for (int x = std::max(0, static_cast<int>(cx - rx)); x < std::min(width, static_cast<int>(cx + rx)); ++x) {
        const float d = std::hypot((x - cx) / rx, (y - cy) / ry);
        if (d >= 1) continue;
        const float alpha = std::min(1.0f, (1 - d) * 8);          // soft edge
        const float texture = 12 * std::sin(freq * x + phase) * std::cos(freq * 0.7f * y);
        for (int c = 0; c < 3; ++c) {
          float& p = rgb[(static_cast<size_t>(y) * width + x) * 3 + c];
          p = p * (1 - alpha) + (colour[c] + texture) * alpha;
        }
      }
  }
  if (klass >= 0) {
    const float hue = 6.0f * klass / classes, f = hue - std::floor(hue);
    const float ramps[6][3] = {{1, f, 0}, {1 - f, 1, 0}, {0, 1, f}, {0, 1 - f, 1}, {f, 0, 1}, {1, 0, 1 - f}};
    const float* tint = ramps[static_cast<int>(hue) % 6];
    for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = 0.5f * rgb[i] + 0.5f * 255 * tint[i % 3];
  }
  add_value_noise(rgb, width, height, 40, 30, rng);
  add_value_noise(rgb, width, height, 9, 18, rng);
  add_value_noise(rgb, width, height, 3, 30, rng);
  add_value_noise(rgb, width, height, 2, 26, rng);
  std::vector<uint8_t> out(rgb.size());
  for (size_t i = 0; i < rgb.size(); i += 3) {
    const float grain = rng.normal(0, 12);
    for (int c = 0; c < 3; ++c) out[i + c] = static_cast<uint8_t>(std::clamp(rgb[i + c] + grain, 0.0f, 255.0f));
  }
  return out;
}

void write_jpeg_tree(const std::string& dir, int classes, int train_count, int val_count, int width, int height) {
  Random rng(7);
  for (const char* split : {"train", "val"})
    for (int k = 0; k < classes; ++k) {
      char klass[32];
      std::snprintf(klass, sizeof klass, "class%02d", k);
      fs::create_directories(fs::path(dir) / split / klass);
      for (int i = 0; i < (split[0] == 't' ? train_count : val_count); ++i) {
        const std::vector<uint8_t> pixels = photo_like(width, height, rng, classes > 1 ? k : -1, classes);
        char name[32];
        std::snprintf(name, sizeof name, "%05d.jpg", i);
        const std::string path = (fs::path(dir) / split / klass / name).string();
        check(stbi_write_jpg(path.c_str(), width, height, 3, pixels.data(), 90) != 0, "bench_loader: cannot write " + path);
      }
    }
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, tree;
  int count = 256, threads = 2, size = 224, batch = 64, runs = 5, classes = 1, val = 1, width = 500, height = 375;
  bool eval = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--eval") {
      eval = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "bench_loader: %s needs a value\n", flag.c_str());
      return 2;
    }
    const char* value = argv[++i];
    if (flag == "--dir") dir = value;
    else if (flag == "--count") count = std::atoi(value);
    else if (flag == "--threads") threads = std::atoi(value);
    else if (flag == "--size") size = std::atoi(value);
    else if (flag == "--batch") batch = std::atoi(value);
    else if (flag == "--runs") runs = std::atoi(value);
    else if (flag == "--write-tree") tree = value;
    else if (flag == "--classes") classes = std::atoi(value);
    else if (flag == "--val") val = std::atoi(value);
    else if (flag == "--image" && std::sscanf(value, "%dx%d", &width, &height) == 2) continue;
    else {
      std::fprintf(stderr, "bench_loader: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  try {
    check(classes >= 1 && count >= 1 && val >= 0 && width >= 1 && height >= 1, "bench_loader: bad tree size");
    if (!tree.empty()) {
      write_jpeg_tree(tree, classes, count, val, width, height);
      std::printf("wrote %d classes x (%d train + %d val) JPEGs of %dx%d to %s\n", classes, count, val, width, height,
                  tree.c_str());
      return 0;
    }
    const bool generated = dir.empty();
    if (generated) {
      dir = (fs::temp_directory_path() / ("actlab-bench-loader-" + std::to_string(::getpid()))).string();
      write_jpeg_tree(dir, 1, count, 1, width, height);
    }
    const Dataset data = read_imagefolder(dir, Split::train, size);
    uintmax_t bytes = 0;
    for (const std::string& f : data.files) bytes += fs::file_size(f);

    // One thread, image by image: how the time splits between decoding and the rest.
    double decode_s = 0, transform_s = 0;
    std::vector<float> out(3 * static_cast<size_t>(size) * size);
    for (int64_t s = 0; s < data.count; ++s) {
      Image image;
      std::string why;
      auto start = Clock::now();
      if (!decode_image(data.files[s], image, why)) continue;
      decode_s += seconds_since(start);
      start = Clock::now();
      Random rng(sample_seed(0, 0, s));
      transform_image(image, size, !eval, rng, data.mean, data.stddev, out.data());
      transform_s += seconds_since(start);
    }

    // The loader as training uses it: --threads workers, batches of --batch.
    std::vector<double> rates;
    for (int r = 0; r < runs; ++r) {
      LoaderOptions options{batch, true, !eval, 0, -1, threads};
      const auto start = Clock::now();
      Loader loader(data, options, r);
      Batch b;
      int64_t images = 0;
      while (loader.next(b)) images += static_cast<int64_t>(b.labels.size());
      rates.push_back(images / seconds_since(start));
    }
    std::sort(rates.begin(), rates.end());
    std::printf("{\"bench\": \"loader\", \"transform\": \"%s\", \"images\": %lld, \"mean_file_kb\": %.1f, "
                "\"size\": %d, \"threads\": %d, \"batch\": %d, \"runs\": %d, \"images_per_s\": %.1f, "
                "\"images_per_s_min\": %.1f, \"images_per_s_max\": %.1f, \"one_thread_decode_ms\": %.3f, "
                "\"one_thread_transform_ms\": %.3f}\n",
                eval ? "resize+centre-crop" : "random-resized-crop+flip", static_cast<long long>(data.count),
                bytes / 1024.0 / std::max<int64_t>(1, data.count), size, threads, batch, runs, rates[rates.size() / 2],
                rates.front(), rates.back(), 1e3 * decode_s / data.count, 1e3 * transform_s / data.count);
    if (generated) fs::remove_all(dir);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_loader: %s\n", e.what());
    return 1;
  }
}
