// The imagefolder data source (SPEC 4) on JPEG/PNG trees the tests write with
// stb_image_write: class and file order, files that cannot be decoded (left out
// when listing or when loading), empty classes, normalisation and the crop
// geometry against values computed here, determinism across epochs and worker
// counts, errors from workers, and the command line.
#include <nlohmann/json.hpp>

#include <cmath>
#include <functional>

#include "cli.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/imagefolder.h"
#include "data/loader.h"
#include "helpers.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

using namespace actlab;
using namespace actlab::testing;
namespace fs = std::filesystem;

namespace {

const std::array<float, 3> kMean{0.485f, 0.456f, 0.406f}, kStd{0.229f, 0.224f, 0.225f};

using PixelFn = std::function<std::array<uint8_t, 3>(int y, int x)>;

std::vector<uint8_t> pixels_of(int width, int height, const PixelFn& f) {
  std::vector<uint8_t> p(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const auto rgb = f(y, x);
      for (int c = 0; c < 3; ++c) p[(static_cast<size_t>(y) * width + x) * 3 + c] = rgb[c];
    }
  return p;
}

void write_png(const fs::path& path, int width, int height, const PixelFn& f) {
  fs::create_directories(path.parent_path());
  const std::vector<uint8_t> p = pixels_of(width, height, f);
  REQUIRE(stbi_write_png(path.string().c_str(), width, height, 3, p.data(), width * 3) != 0);
}

void write_jpg(const fs::path& path, int width, int height, const PixelFn& f) {
  fs::create_directories(path.parent_path());
  const std::vector<uint8_t> p = pixels_of(width, height, f);
  REQUIRE(stbi_write_jpg(path.string().c_str(), width, height, 3, p.data(), 95) != 0);
}

PixelFn pattern(int seed) {
  return [seed](int y, int x) {
    return std::array<uint8_t, 3>{static_cast<uint8_t>(x * 9 + seed * 40), static_cast<uint8_t>(y * 7 + seed * 13),
                                  static_cast<uint8_t>((x + y) * 5)};
  };
}

// DIR/train: Zebra (2 images), apple (3, one of them garbage named .jpg), banana
// (2 and a note), empty (none); DIR/val: apple and banana. Byte order puts
// "Zebra" first. Mixed extension case, sizes and aspect ratios.
std::string write_tree(const std::string& name) {
  const fs::path dir = temp_dir(name);
  write_jpg(dir / "train/Zebra/z2.jpg", 40, 30, pattern(1));
  write_png(dir / "train/Zebra/z1.PNG", 24, 36, pattern(2));
  write_jpg(dir / "train/apple/a1.JPEG", 33, 33, pattern(3));
  write_png(dir / "train/apple/a0.png", 50, 20, pattern(4));
  std::ofstream(dir / "train/apple/garbage.jpg") << "this is not an image";
  write_png(dir / "train/banana/b1.png", 16, 16, pattern(5));
  write_jpg(dir / "train/banana/b0.jpg", 64, 48, pattern(6));
  std::ofstream(dir / "train/banana/notes.txt") << "not an image either";
  fs::create_directories(dir / "train/empty");
  write_png(dir / "val/apple/v0.png", 30, 40, pattern(7));
  write_jpg(dir / "val/banana/v1.jpg", 40, 30, pattern(8));
  write_jpg(dir / "val/banana/v2.jpg", 20, 20, pattern(9));
  return dir.string();
}

std::vector<float> sample_of(const Batch& b, int64_t i) {
  const int64_t size = b.images.numel() / b.images.size(0);
  return std::vector<float>(b.images.data() + i * size, b.images.data() + (i + 1) * size);
}

std::vector<Batch> epoch_batches(const Dataset& d, LoaderOptions options, int64_t epoch) {
  Loader loader(d, options, epoch);
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b)) out.push_back(std::move(b));
  return out;
}

float normalised(int pixel, int c) { return (pixel / 255.0f - kMean[c]) / kStd[c]; }

}  // namespace

TEST_CASE("imagefolder lists classes in byte order and files in name order, leaving out unreadable files") {
  const std::string dir = write_tree("if-list");
  const Dataset d = load_dataset(parse_data_source("imagefolder:" + dir), Split::train);
  CHECK(d.on_disk);
  CHECK(d.class_names == std::vector<std::string>{"Zebra", "apple", "banana", "empty"});
  CHECK(d.classes == 4);
  CHECK(d.channels == 3);
  CHECK(d.height == 224);   // the default --image-size
  REQUIRE(d.count == 6);
  std::vector<std::string> names;
  for (const std::string& f : d.files) names.push_back(fs::path(f).filename().string());
  CHECK(names == std::vector<std::string>{"z1.PNG", "z2.jpg", "a0.png", "a1.JPEG", "b0.jpg", "b1.png"});
  CHECK(d.labels == std::vector<int32_t>{0, 0, 1, 1, 2, 2});
  REQUIRE(d.skipped.size() == 1);
  CHECK(d.skipped[0].find("garbage.jpg") != std::string::npos);
  auto noted = [&](const std::string& needle) {
    for (const std::string& n : d.notes)
      if (n.find(needle) != std::string::npos) return true;
    return false;
  };
  CHECK_MESSAGE(noted("1 of 4 classes have no images"), "no warning about the empty class");
  CHECK_MESSAGE(noted("(empty)"), "the empty class is not named");
  CHECK_MESSAGE(noted("ignored 1 entry"), "notes.txt is not reported as ignored");
  CHECK_MESSAGE(noted("1 image could not be decoded and was skipped"), "the garbage file is not reported");
  CHECK(d.mean == kMean);
  CHECK(d.stddev == kStd);
  fs::remove_all(dir);
}

TEST_CASE("imagefolder val classes take train's indices by name") {
  const std::string dir = write_tree("if-val");
  DataSource source = parse_data_source("imagefolder:" + dir);
  source.image_size = 48;
  const Dataset val = load_dataset(source, Split::test);
  CHECK(val.classes == 4);
  CHECK(val.class_names == std::vector<std::string>{"Zebra", "apple", "banana", "empty"});
  CHECK(val.labels == std::vector<int32_t>{1, 2, 2});
  CHECK(val.height == 48);
  CHECK(val.width == 48);

  fs::create_directories(dir + "/val/mango");
  try {
    load_dataset(source, Split::test);
    FAIL("no error for a val class that train/ lacks");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("class 'mango'") != std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("imagefolder layout errors name the path") {
  const std::string dir = temp_dir("if-layout");
  auto error_of = [&](Split split) {
    try {
      load_dataset(parse_data_source("imagefolder:" + dir), split);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of(Split::train).find(dir + "/train not found") != std::string::npos);
  fs::create_directories(dir + "/train");
  CHECK(error_of(Split::train).find(dir + "/train has no class directories") != std::string::npos);
  fs::create_directories(dir + "/train/cat");
  std::ofstream(dir + "/train/cat/broken.png") << "\x89PNG but not really";
  CHECK(error_of(Split::train).find("holds no readable .jpg, .jpeg or .png image") != std::string::npos);
  write_png(dir + "/train/cat/ok.png", 8, 8, pattern(0));
  CHECK(error_of(Split::train) == "no error");
  CHECK(error_of(Split::test).find(dir + "/val not found") != std::string::npos);
  fs::create_directories(dir + "/val/cat");
  CHECK(error_of(Split::test).find(dir + "/val holds no readable") != std::string::npos);
  CHECK_THROWS_AS(parse_data_source("imagefolder"), Error);
  CHECK_THROWS_AS(parse_data_source("imagefolder:" + dir + "/nowhere"), Error);
  fs::remove_all(dir);
}

TEST_CASE("a constant-colour image normalises to ImageNet's exact value in training and evaluation") {
  const std::string dir = temp_dir("if-constant");
  write_png(dir + "/train/c/rgb.png", 45, 31, [](int, int) { return std::array<uint8_t, 3>{200, 100, 50}; });
  // Grey and RGBA PNGs become RGB (stb's req_comp = 3; alpha is dropped).
  fs::create_directories(dir + "/train/d");
  const std::vector<uint8_t> grey(20 * 25, 77);
  REQUIRE(stbi_write_png((dir + "/train/d/grey.png").c_str(), 20, 25, 1, grey.data(), 20));
  std::vector<uint8_t> rgba;
  for (int i = 0; i < 30 * 18; ++i) rgba.insert(rgba.end(), {10, 20, 30, static_cast<uint8_t>(i % 256)});
  REQUIRE(stbi_write_png((dir + "/train/d/rgba.png").c_str(), 30, 18, 4, rgba.data(), 30 * 4));
  DataSource source = parse_data_source("imagefolder:" + dir);
  source.image_size = 17;
  const Dataset d = load_dataset(source, Split::train);
  REQUIRE(d.count == 3);
  const std::array<std::array<int, 3>, 3> colour{{{200, 100, 50}, {77, 77, 77}, {10, 20, 30}}};
  for (bool augment : {true, false}) {
    const std::vector<Batch> batches = epoch_batches(d, LoaderOptions{3, false, augment, 1, -1, 2}, 0);
    REQUIRE(batches.size() == 1);
    const Batch& b = batches[0];
    REQUIRE(b.images.shape() == Shape{3, 3, 17, 17});
    for (int i = 0; i < 3; ++i) {
      const std::vector<float> s = sample_of(b, i);
      for (int c = 0; c < 3; ++c)
        for (int p = 0; p < 17 * 17; ++p)
          REQUIRE_MESSAGE(s[c * 17 * 17 + p] == doctest::Approx(normalised(colour[i][c], c)).epsilon(1e-6),
                          "image " << i << " channel " << c << " pixel " << p << " (augment " << augment << ")");
    }
  }
  fs::remove_all(dir);
}

TEST_CASE("random-resized-crop boxes keep torchvision's area and ratio ranges and fall back to the centre") {
  Random rng(3);
  int distinct = 0;
  Box last;
  for (int i = 0; i < 2000; ++i) {
    const Box b = random_resized_crop_box(375, 500, rng);
    REQUIRE(b.top >= 0);
    REQUIRE(b.left >= 0);
    REQUIRE(b.top + b.height <= 375);
    REQUIRE(b.left + b.width <= 500);
    const double area = static_cast<double>(b.height) * b.width / (375.0 * 500.0);
    const double ratio = static_cast<double>(b.width) / b.height;
    // The rounding of w and h to integers moves area and ratio a little.
    CHECK(area >= 0.08 * 0.97);
    CHECK(area <= 1.0);
    CHECK(ratio >= 0.75 * 0.97);
    CHECK(ratio <= 4.0 / 3.0 * 1.03);
    distinct += !(b == last);
    last = b;
  }
  CHECK(distinct > 1900);
  // 10 tries cannot fit an area of at least 8% of a 10 × 1000 strip: the
  // fallback is the centre with the ratio clamped (w = round(10 · 4/3) = 13).
  CHECK(random_resized_crop_box(10, 1000, rng) == Box{0, 493, 10, 13});
  CHECK(random_resized_crop_box(1000, 10, rng) == Box{493, 0, 13, 10});   // h = round(10 / 0.75)
  CHECK(random_resized_crop_box(1, 1, rng) == Box{0, 0, 1, 1});
}

TEST_CASE("the evaluation transform resizes the short side to round(S/0.875) and crops the centre") {
  // torchvision: Resize(256) of 500 × 375 gives 341 × 256 (int(256 · 500/375)),
  // CenterCrop(224) starts at round(117/2) = 58 (half to even) and round(32/2) = 16.
  EvalGeometry g = eval_geometry(375, 500, 224);
  CHECK(g.resized_height == 256);
  CHECK(g.resized_width == 341);
  CHECK(g.crop == Box{16, 58, 224, 224});
  g = eval_geometry(500, 375, 32);   // round(32 / 0.875) = round(36.57) = 37
  CHECK(g.resized_width == 37);
  CHECK(g.resized_height == 49);     // int(37 · 500/375) = int(49.33)
  CHECK(g.crop == Box{8, 2, 32, 32});   // round(17/2) = 8, round(5/2) = 2

  // A linear ramp survives the triangle filter inside the image: with an
  // exact 2× shrink (90 × 74 → 45 × 37), output pixel (y, x) of the 32 × 32 crop
  // is resized pixel (y + 2, x + 6), whose centre is source (2y + 4, 2x + 12)
  // in pixel-edge coordinates. The ramps climb 5 and 6 levels per resized
  // pixel, so a crop one pixel off shows.
  Image ramp;
  ramp.width = 90, ramp.height = 74;
  ramp.rgb.resize(90 * 74 * 3);
  for (int y = 0; y < 74; ++y)
    for (int x = 0; x < 90; ++x) {
      uint8_t* p = &ramp.rgb[(static_cast<size_t>(y) * 90 + x) * 3];
      p[0] = static_cast<uint8_t>(x * 5 / 2);
      p[1] = static_cast<uint8_t>(y * 3);
      p[2] = 9;
    }
  g = eval_geometry(74, 90, 32);
  CHECK(g.resized_height == 37);
  CHECK(g.resized_width == 45);
  CHECK(g.crop == Box{2, 6, 32, 32});   // round(5/2) = 2, round(13/2) = 6
  const Image out = resize_then_crop(ramp, g.resized_height, g.resized_width, g.crop);
  int worst = 0;
  for (int y = 1; y < 31; ++y)
    for (int x = 1; x < 31; ++x) {
      const int sx = 2 * (x + 6), sy = 2 * (y + 2);
      // The triangle filter of a 2× shrink weighs columns sx−1 … sx+2 by 1, 3, 3, 1 (/8).
      auto col = [](int c) { return static_cast<double>(c * 5 / 2); };
      auto row = [](int r) { return static_cast<double>(r * 3); };
      const double r = (col(sx - 1) + 3 * col(sx) + 3 * col(sx + 1) + col(sx + 2)) / 8;
      const double gr = (row(sy - 1) + 3 * row(sy) + 3 * row(sy + 1) + row(sy + 2)) / 8;
      const uint8_t* p = &out.rgb[(static_cast<size_t>(y) * 32 + x) * 3];
      worst = std::max({worst, static_cast<int>(std::fabs(p[0] - r) + 0.5), static_cast<int>(std::fabs(p[1] - gr) + 0.5),
                        std::abs(p[2] - 9)});
    }
  CHECK(worst <= 1);
  // Computing only the crop gives what resizing all and then cropping gives.
  const Image full = resize_box(ramp, {0, 0, 74, 90}, 37, 45);
  const Image cropped = resize_box(full, g.crop, 32, 32);
  int differ = 0;
  for (size_t i = 0; i < out.rgb.size(); ++i) differ = std::max(differ, std::abs(out.rgb[i] - cropped.rgb[i]));
  CHECK(differ <= 1);
}

TEST_CASE("at scale 1 the evaluation crop is the centre of the image, pixel for pixel") {
  // Short side 37 = round(32 / 0.875): no resampling, the crop of the source
  // starts at round((37 − 32)/2) = 2 and round((45 − 32)/2) = 6 (half to even).
  const std::string dir = temp_dir("if-centre");
  auto f = [](int y, int x) {
    return std::array<uint8_t, 3>{static_cast<uint8_t>(x * 5), static_cast<uint8_t>(y * 6), static_cast<uint8_t>(x + y)};
  };
  write_png(dir + "/train/c/a.png", 45, 37, f);
  write_png(dir + "/val/c/a.png", 45, 37, f);
  DataSource source = parse_data_source("imagefolder:" + dir);
  source.image_size = 32;
  const Dataset d = load_dataset(source, Split::test);
  const std::vector<Batch> batches = epoch_batches(d, LoaderOptions{1, false, false, 0, -1, 1}, 0);
  REQUIRE(batches.size() == 1);
  const std::vector<float> s = sample_of(batches[0], 0);
  int wrong = 0;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x)
        wrong += s[(c * 32 + y) * 32 + x] != doctest::Approx(normalised(f(y + 2, x + 6)[c], c)).epsilon(1e-6);
  CHECK(wrong == 0);
  fs::remove_all(dir);
}

TEST_CASE("imagefolder batches depend on seed, epoch and sample only, not on workers or batch size") {
  const std::string dir = write_tree("if-determinism");
  DataSource source = parse_data_source("imagefolder:" + dir);
  source.image_size = 20;
  const Dataset d = load_dataset(source, Split::train);
  auto flat = [](const std::vector<Batch>& batches) {
    std::vector<std::vector<float>> samples;
    for (const Batch& b : batches)
      for (int64_t i = 0; i < b.images.size(0); ++i) samples.push_back(sample_of(b, i));
    return samples;
  };
  auto labels = [](const std::vector<Batch>& batches) {
    std::vector<int32_t> all;
    for (const Batch& b : batches) all.insert(all.end(), b.labels.begin(), b.labels.end());
    return all;
  };
  const auto one = epoch_batches(d, LoaderOptions{4, true, true, 7, -1, 1}, 0);
  const auto three = epoch_batches(d, LoaderOptions{4, true, true, 7, -1, 3}, 0);
  REQUIRE(one.size() == 2);
  CHECK(one[0].images.shape() == Shape{4, 3, 20, 20});
  CHECK(one[1].images.shape() == Shape{2, 3, 20, 20});
  CHECK(flat(one) == flat(three));
  CHECK(labels(one) == labels(three));
  CHECK(flat(one) == flat(epoch_batches(d, LoaderOptions{4, true, true, 7, -1, 2}, 0)));
  CHECK(flat(one) != flat(epoch_batches(d, LoaderOptions{4, true, true, 8, -1, 2}, 0)));

  // In file order: the same sample gets the same crop whatever the batch size,
  // another crop in another epoch, and the evaluation transform in every epoch.
  const auto by2 = flat(epoch_batches(d, LoaderOptions{2, false, true, 7, -1, 2}, 0));
  const auto by5 = flat(epoch_batches(d, LoaderOptions{5, false, true, 7, -1, 2}, 0));
  const auto next_epoch = flat(epoch_batches(d, LoaderOptions{2, false, true, 7, -1, 2}, 1));
  CHECK(by2 == by5);
  for (size_t i = 0; i < by2.size(); ++i) CHECK_MESSAGE(by2[i] != next_epoch[i], "sample " << i << " has the same crop in epochs 0 and 1");
  CHECK(flat(epoch_batches(d, LoaderOptions{3, false, false, 7, -1, 2}, 0)) ==
        flat(epoch_batches(d, LoaderOptions{3, false, false, 9, -1, 1}, 4)));

  // Sample s of epoch e: the crop, then the flip, drawn from sample_seed(seed, e, s).
  int flipped = 0;
  for (int64_t s = 0; s < d.count; ++s) {
    Image image;
    std::string why;
    REQUIRE(decode_image(d.files[s], image, why));
    Random rng(sample_seed(7, 0, s));
    const Box box = random_resized_crop_box(image.height, image.width, rng);
    const bool flip = rng.uniform() < 0.5;
    flipped += flip;
    const Image crop = resize_box(image, box, 20, 20);
    std::vector<float> expect(3 * 20 * 20);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 20; ++y)
        for (int x = 0; x < 20; ++x)
          expect[(c * 20 + y) * 20 + x] = normalised(crop.rgb[(y * 20 + (flip ? 19 - x : x)) * 3 + c], c);
    int wrong = 0;
    for (size_t i = 0; i < expect.size(); ++i) wrong += by2[s][i] != doctest::Approx(expect[i]).epsilon(1e-6);
    CHECK_MESSAGE(wrong == 0, "sample " << s << " is not its own crop and flip");
  }
  CHECK(flipped > 0);
  CHECK(flipped < d.count);
  fs::remove_all(dir);
}

TEST_CASE("an image that fails to decode is left out of its batch and listed") {
  const std::string dir = write_tree("if-skip");
  // The header is intact (the listing keeps it), the pixel data is cut off.
  write_png(dir + "/train/banana/b2.png", 64, 64, pattern(11));
  fs::resize_file(dir + "/train/banana/b2.png", fs::file_size(dir + "/train/banana/b2.png") / 2);
  DataSource source = parse_data_source("imagefolder:" + dir);
  source.image_size = 12;
  const Dataset d = load_dataset(source, Split::train);
  REQUIRE(d.count == 7);
  CHECK(fs::path(d.files[6]).filename() == "b2.png");
  {
    Loader loader(d, LoaderOptions{4, false, true, 0, -1, 2}, 0);
    Batch b;
    REQUIRE(loader.next(b));
    CHECK(b.labels.size() == 4);
    CHECK(loader.skipped().empty());
    REQUIRE(loader.next(b));
    CHECK(b.images.shape() == Shape{2, 3, 12, 12});
    CHECK(b.labels == std::vector<int32_t>{2, 2});
    REQUIRE(loader.skipped().size() == 1);
    CHECK(loader.skipped()[0].find("b2.png") != std::string::npos);
    CHECK_FALSE(loader.next(b));
  }
  {  // a batch that loses its only image is not handed out
    Loader loader(d, LoaderOptions{1, false, false, 0, -1, 2}, 0);
    Batch b;
    int handed = 0;
    while (loader.next(b)) ++handed;
    CHECK(handed == 6);
    CHECK(loader.skipped().size() == 1);
  }
  fs::remove_all(dir);
}

TEST_CASE("an exception in a loader worker reaches next() and the loader still shuts down") {
  const std::string dir = write_tree("if-error");
  Dataset d = load_dataset(parse_data_source("imagefolder:" + dir), Split::train);
  d.height = d.width = 0;   // no image can be made at size 0: the transform throws
  {
    Loader loader(d, LoaderOptions{2, true, true, 0, -1, 3}, 0);
    Batch b;
    try {
      loader.next(b);
      FAIL("no error from the workers");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("data loader: imagefolder: the image size must be positive") != std::string::npos);
    }
  }
  // Leaving after one batch of many: the destructor stops the workers.
  d.height = d.width = 16;
  Loader loader(d, LoaderOptions{1, true, true, 0, -1, 2}, 0);
  Batch b;
  CHECK(loader.next(b));
  fs::remove_all(dir);
}

TEST_CASE("train on an imagefolder writes classes.txt, reports skipped files, and eval reads the run") {
  const std::string dir = write_tree("if-cli");
  Run r = run_actlab("train --model resnet20 --data imagefolder:" + dir +
                     " --image-size 32 --max-steps 3 --batch 2 --threads 2 --loader-threads 2 --json --out " + dir + "/run");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(slurp(dir + "/run/classes.txt") == "Zebra\napple\nbanana\nempty\n");
  const auto config = nlohmann::json::parse(slurp(dir + "/run/config.json"));
  CHECK(config["image_size"] == 32);
  CHECK(config["loader_threads"] == 2);
  CHECK(r.err.find("1 image could not be decoded and was skipped: " + dir + "/train/apple/garbage.jpg") != std::string::npos);
  CHECK(r.err.find("1 of 4 classes have no images") != std::string::npos);
  CHECK(read_safetensors(dir + "/run/model.safetensors").metadata.at("input") == "3,32,32");
  CHECK(nlohmann::json::parse(r.out)["skipped_images"] == 0);

  // eval takes the size from the checkpoint and checks the class list.
  Run e = run_actlab("eval --model resnet20 --data imagefolder:" + dir + " --checkpoint " + dir +
                     "/run/model.safetensors --json --loader-threads 2");
  REQUIRE_MESSAGE(e.status == 0, e.err);
  CHECK(nlohmann::json::parse(e.out)["samples"] == 3);
  CHECK(e.err.find("used at 32x32") != std::string::npos);
  fs::rename(dir + "/train/empty", dir + "/train/zzz");
  check_one_line_error(run_actlab("eval --model resnet20 --data imagefolder:" + dir + " --checkpoint " + dir +
                                  "/run/model.safetensors"),
                       "class 3 is 'zzz' here, 'empty' there");
  fs::remove_all(dir);
}

TEST_CASE("imagefolder bad input ends with one clear line and a non-zero exit") {
  const std::string dir = write_tree("if-cli-bad");
  check_one_line_error(run_actlab("train --data imagefolder:" + dir + "/nowhere --max-steps 1"), "directory not found");
  check_one_line_error(run_actlab("train --data imagefolder --max-steps 1"), "imagefolder needs a directory");
  check_one_line_error(run_actlab("train --data fashion-mnist:" + fixture("tiny-fmnist") + " --image-size 64 --max-steps 1"),
                       "--image-size applies to imagefolder data only");
  check_one_line_error(run_actlab("train --data imagefolder:" + dir + " --image-size 0 --max-steps 1"), "--image-size");
  fs::create_directories(dir + "/val/mango");
  check_one_line_error(run_actlab("train --data imagefolder:" + dir + " --max-steps 1 --out " + dir + "/run"),
                       "class 'mango' of " + dir + "/val has no directory in " + dir + "/train");
  fs::remove_all(dir + "/val");
  check_one_line_error(run_actlab("train --data imagefolder:" + dir + " --max-steps 1 --out " + dir + "/run"),
                       dir + "/val not found");
  CHECK_FALSE(fs::exists(dir + "/run"));
  fs::remove_all(dir);
}

TEST_CASE("a run that could decode no training image, or no test image, is an error and saves nothing") {
  const std::string dir = write_tree("if-no-work");
  // Headers intact (the listing keeps the files), pixel data cut off.
  const auto cut = [](const fs::path& root) {
    for (const auto& entry : fs::recursive_directory_iterator(root))
      if (entry.is_regular_file()) fs::resize_file(entry.path(), fs::file_size(entry.path()) / 2);
  };
  const fs::path saved = dir + "-val";
  fs::copy(dir + "/val", saved, fs::copy_options::recursive);
  cut(dir + "/val");
  const std::string train = "train --model resnet20 --data imagefolder:" + dir +
                            " --image-size 16 --epochs 1 --batch 2 --threads 2 --loader-threads 2 --out ";
  check_one_line_error(run_actlab(train + dir + "/run1"), "epoch 1 evaluated no test image");
  CHECK_FALSE(fs::exists(dir + "/run1/model.safetensors"));
  fs::remove_all(dir + "/val");
  fs::copy(saved, dir + "/val", fs::copy_options::recursive);
  cut(dir + "/train");
  check_one_line_error(run_actlab(train + dir + "/run2"), "epoch 1 did no training step");
  CHECK_FALSE(fs::exists(dir + "/run2/model.safetensors"));
  CHECK_FALSE(fs::exists(dir + "/run2/metrics.jsonl"));
  fs::remove_all(dir);
  fs::remove_all(saved);
}

TEST_CASE("JPEGs whose Huffman tables made stb_image 2.27 write out of bounds (found by fuzz_image) are refused cleanly") {
  // fuzz/fuzz_image.cpp's inputs: one byte of output size, then the file. Under the ASan + UBSan preset the
  // old decoder failed here ("index 257 out of bounds for type 'stbi_uc[257]'").
  const std::string dir = temp_dir("fuzz-jpeg");
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(fixture("fuzz"))) {
    if (entry.path().filename().string().rfind("jpeg-", 0) != 0) continue;
    const std::string bytes = slurp(entry.path().string());
    const std::string file = dir + "/" + entry.path().filename().string() + ".jpg";
    std::ofstream(file, std::ios::binary) << bytes.substr(1);
    std::string why;
    Image image;
    const bool listed = probe_image(file, why);
    CHECK_MESSAGE(!(listed && decode_image(file, image, why)), file << " decoded");
    CHECK_MESSAGE(!why.empty(), file << ": no reason given");
    ++checked;
  }
  CHECK(checked == 2);
  fs::remove_all(dir);
}
