// IDX and CIFAR readers on files the tests write in the real formats, and
// the loader's order and augmentation.
#include <zlib.h>

#include "cli.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "core/error.h"
#include "helpers.h"

using namespace actlab;
using namespace actlab::testing;

namespace {

void put32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

void write(const std::string& path, const std::string& bytes, bool gzip) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary) << bytes;
  }
}

// n images of h×w whose pixel (i, y, x) is (i + y·w + x) mod 256, label i mod 10
void write_idx(const std::string& dir, const std::string& prefix, int n, int h, int w, bool gzip) {
  std::string images, labels;
  put32(images, 0x803), put32(images, n), put32(images, h), put32(images, w);
  put32(labels, 0x801), put32(labels, n);
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < h * w; ++p) images += static_cast<char>((i + p) % 256);
    labels += static_cast<char>(i % 10);
  }
  const std::string ext = gzip ? ".gz" : "";
  write(dir + "/" + prefix + "-images-idx3-ubyte" + ext, images, gzip);
  write(dir + "/" + prefix + "-labels-idx1-ubyte" + ext, labels, gzip);
}

}  // namespace

TEST_CASE("IDX files are read plain and gzipped, pixels and labels in file order") {
  for (bool gzip : {false, true}) {
    const std::string dir = temp_dir(gzip ? "idx-gz" : "idx");
    write_idx(dir, "train", 5, 4, 3, gzip);
    write_idx(dir, "t10k", 3, 4, 3, gzip);
    Dataset d = load_dataset(parse_data_source("mnist:" + dir), Split::train);
    CHECK(d.count == 5);
    CHECK(d.height == 4);
    CHECK(d.width == 3);
    CHECK(d.labels[3] == 3);
    CHECK(d.pixels[2 * 12 + 5] == 7);
    CHECK_FALSE(d.flip);
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("a truncated IDX file is an error naming the file and the sizes") {
  const std::string dir = temp_dir("idx-trunc");
  write_idx(dir, "train", 5, 4, 3, false);
  std::filesystem::resize_file(dir + "/train-images-idx3-ubyte", 16 + 50);
  try {
    load_dataset(parse_data_source("fashion-mnist:" + dir), Split::train);
    FAIL("no error for a truncated file");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("train-images-idx3-ubyte") != std::string::npos);
    CHECK(m.find("truncated") != std::string::npos);
    CHECK(m.find("76 bytes") != std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("CIFAR-10 and CIFAR-100 binary records are read with the right labels and planes") {
  const std::string dir = temp_dir("cifar");
  auto record = [](int label, int fine, bool hundred, uint8_t base) {
    std::string r;
    r += static_cast<char>(label);
    if (hundred) r += static_cast<char>(fine);
    for (int i = 0; i < 3072; ++i) r += static_cast<char>((base + i / 1024) & 0xff);  // plane c holds base + c
    return r;
  };
  for (int b = 1; b <= 5; ++b) write(dir + "/data_batch_" + std::to_string(b) + ".bin", record(b, 0, false, 10) + record(9, 0, false, 20), false);
  write(dir + "/test_batch.bin", record(4, 0, false, 30), false);
  write(dir + "/train.bin", record(3, 77, true, 40) + record(1, 99, true, 50), false);
  write(dir + "/test.bin", record(2, 5, true, 60), false);
  Dataset c10 = load_dataset(parse_data_source("cifar10:" + dir), Split::train);
  CHECK(c10.count == 10);
  CHECK(c10.labels[0] == 1);
  CHECK(c10.labels[9] == 9);
  CHECK(c10.pixels[1024] == 11);   // green plane of the first image
  Dataset c100 = load_dataset(parse_data_source("cifar100:" + dir), Split::train);
  CHECK(c100.classes == 100);
  CHECK(c100.labels[0] == 77);     // fine label
  CHECK(c100.labels[1] == 99);
  CHECK(c100.pixels[3072 + 2048] == 52);
  std::filesystem::resize_file(dir + "/test.bin", 3000);
  CHECK_THROWS_AS(load_dataset(parse_data_source("cifar100:" + dir), Split::test), Error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("the loader keeps file order without shuffling, normalises, and is deterministic with it") {
  const std::string dir = temp_dir("loader");
  write_idx(dir, "train", 10, 4, 4, true);
  write_idx(dir, "t10k", 2, 4, 4, true);
  Dataset d = load_dataset(parse_data_source("fashion-mnist:" + dir), Split::train);
  {
    Loader loader(d, LoaderOptions{4, false, false, 0, -1}, 0);
    CHECK(loader.batches() == 3);
    Batch b;
    REQUIRE(loader.next(b));
    CHECK(b.labels == std::vector<int32_t>{0, 1, 2, 3});
    CHECK(b.images.data()[16] == doctest::Approx((1 / 255.0 - 0.2860) / 0.3530));  // image 1, pixel 0
    REQUIRE(loader.next(b));
    REQUIRE(loader.next(b));
    CHECK(b.labels.size() == 2);
    CHECK_FALSE(loader.next(b));
  }
  auto epoch_labels = [&](int64_t epoch, uint64_t seed) {
    Loader loader(d, LoaderOptions{3, true, true, seed, -1}, epoch);
    std::vector<int32_t> all;
    Batch b;
    while (loader.next(b)) all.insert(all.end(), b.labels.begin(), b.labels.end());
    return all;
  };
  CHECK(epoch_labels(0, 5) == epoch_labels(0, 5));
  CHECK(epoch_labels(0, 5) != epoch_labels(1, 5));
  std::filesystem::remove_all(dir);
}

TEST_CASE("augmentation pads with zero pixels and flips horizontally") {
  Dataset d;
  d.count = 1, d.channels = 1, d.height = 2, d.width = 2, d.classes = 1;
  d.pixels = {255, 255, 255, 255};
  d.labels = {0};
  d.mean = {0, 0, 0};
  d.stddev = {1, 1, 1};
  int shifted = 0;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Batch b = make_batch(d, {0}, true, seed);
    for (int i = 0; i < 4; ++i) {
      const float v = b.images.data()[i];
      CHECK((v == 0.0f || v == doctest::Approx(1.0f)));
      shifted += v == 0.0f;
    }
  }
  CHECK(shifted > 0);
}
