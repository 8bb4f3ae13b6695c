// Hostile and careless input: malformed safetensors and IDX files, files that
// are no files (a FIFO, /dev/zero, a sparse giant), globs built to backtrack,
// absurd numbers, a checkpoint evaluated as another activation. Each ends in
// one clear error (or the right answer), never a hang, a crash or a wrong
// result.
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>

#include "cli.h"
#include "core/error.h"
#include "helpers.h"
#include "models/placement.h"
#include "train/safetensors.h"

using namespace actlab;
using namespace actlab::testing;
namespace fs = std::filesystem;

namespace {

const std::string kTiny = "fashion-mnist:" + fixture("tiny-fmnist");

// A safetensors file from its header text and data, as a hostile writer makes it.
void write_raw(const std::string& path, const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  std::ofstream(path, std::ios::binary) << bytes << header << data;
}

// The error read_safetensors gives, or "" when it loads.
std::string read_error(const std::string& path) {
  try {
    read_safetensors(path);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

#define CHECK_REFUSED(path, needle)                                                                    \
  do {                                                                                                 \
    const std::string error_ = read_error(path);                                                       \
    CHECK_MESSAGE(error_.find(needle) != std::string::npos, "expected an error with '" << needle << "', got '" << error_ << "'"); \
  } while (0)

std::string floats(int n) { return std::string(4 * n, '\0'); }

}  // namespace

TEST_CASE("safetensors: offsets must tile the data exactly, names are unique, sizes are dtype x shape") {
  const std::string dir = temp_dir("st-rules");
  const std::string f = dir + "/t.safetensors";
  write_raw(f, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
            floats(3));
  CHECK(read_error(f).empty());
  CHECK(read_safetensors(f).tensors.size() == 2);

  write_raw(f, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
            floats(2));
  CHECK_REFUSED(f, "without gap or overlap");   // overlap
  write_raw(f, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
            floats(4));
  CHECK_REFUSED(f, "tensor 'a' starts at byte 4");   // shifted by 4 bytes
  write_raw(f, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
            floats(2));
  CHECK_REFUSED(f, "names 'a' twice");
  write_raw(f, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", floats(2));
  CHECK_REFUSED(f, "hold 4 bytes of data, but the file has 8");   // bytes after the last tensor
  write_raw(f, R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", floats(2));
  CHECK_REFUSED(f, "do not hold its F32 [3]");
  write_raw(f, R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", floats(2));
  CHECK_REFUSED(f, "too large");   // 2^62 · 4 · 4 bytes overflows
  write_raw(f, R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", floats(1));
  CHECK_REFUSED(f, "not a whole number >= 0");
  write_raw(f, R"({"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}})", floats(1));
  CHECK_REFUSED(f, "unknown dtype Q7");
  write_raw(f, R"({"a":{"dtype":"F32","shape":[1]}})", floats(1));
  CHECK_REFUSED(f, "has no data_offsets");
  write_raw(f, R"([1,2])", "");
  CHECK_REFUSED(f, "not a JSON object");
  fs::remove_all(dir);
}

TEST_CASE("safetensors: a FIFO, /dev/zero, a huge header length and an 8 GB sparse file end at once in an error") {
  const std::string dir = temp_dir("st-files");
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(::mkfifo((dir + "/fifo").c_str(), 0600) == 0);
  CHECK_REFUSED(dir + "/fifo", "not a regular file");
  CHECK_REFUSED("/dev/zero", "not a regular file");
  CHECK_REFUSED(dir + "/missing", "checkpoint not found");
  // Header length 150 MB in a 200 MB sparse file: over the format's cap, nothing read.
  {
    std::string bytes(8, '\0');
    const uint64_t len = 150'000'000;
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((len >> (8 * i)) & 0xff);
    std::ofstream(dir + "/big-header", std::ios::binary) << bytes;
    fs::resize_file(dir + "/big-header", 200'000'000);
  }
  CHECK_REFUSED(dir + "/big-header", "over the format's limit");
  std::ofstream(dir + "/sparse").close();
  fs::resize_file(dir + "/sparse", uint64_t{8} << 30);   // 8 GiB of zeros, no disk
  CHECK_REFUSED(dir + "/sparse", "not a valid safetensors file");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK_MESSAGE(seconds < 5.0, "took " << seconds << " s: something read what it should not have");
  check_one_line_error(run_actlab("eval --data " + kTiny + " --checkpoint " + dir + "/fifo"), "not a regular file");
  fs::remove_all(dir);
}

TEST_CASE("IDX: an overflowing or zero-sized header, trailing data, a gzip bomb and a FIFO are clear errors") {
  const std::string dir = temp_dir("idx");
  const auto header = [](uint32_t magic, std::vector<uint32_t> sizes) {
    std::string b;
    sizes.insert(sizes.begin(), magic);
    for (uint32_t v : sizes)
      for (int k = 3; k >= 0; --k) b += static_cast<char>((v >> (8 * k)) & 0xff);
    return b;
  };
  const auto write_set = [&](const std::string& images, const std::string& labels) {
    fs::create_directories(dir + "/set");
    for (const char* split : {"train", "t10k"}) {
      std::ofstream(dir + "/set/" + split + "-images-idx3-ubyte", std::ios::binary) << images;
      std::ofstream(dir + "/set/" + split + "-labels-idx1-ubyte", std::ios::binary) << labels;
    }
  };
  const std::string train = "train --epochs 1 --threads 2 --data fashion-mnist:" + dir + "/set --out " + dir + "/run";
  // 2^32 − 1 images of 4096 x 4096: the byte count overflows 32 bits; the file holds 4 pixels.
  write_set(header(0x803, {0xffffffffu, 4096, 4096}) + "abcd", header(0x801, {1}) + "\x01");
  check_one_line_error(run_actlab(train), "is truncated or malformed: its header promises 4294967295 images of 4096x4096");
  write_set(header(0x803, {1, 0, 28}), header(0x801, {1}) + "\x01");
  check_one_line_error(run_actlab(train), "images of 0x28");
  write_set(header(0x803, {1, 2, 2}) + "abcdEXTRA", header(0x801, {1}) + "\x01");
  check_one_line_error(run_actlab(train), "the file holds more");
  // A gzip bomb: 10 images promised, 200 MB of zeros behind them (inflated only as far as promised).
  fs::remove_all(dir + "/set");
  fs::create_directories(dir + "/set");
  for (const char* split : {"train", "t10k"}) {
    gzFile gz = gzopen((dir + "/set/" + split + "-images-idx3-ubyte.gz").c_str(), "wb9");
    const std::string h = header(0x803, {10, 28, 28});
    gzwrite(gz, h.data(), static_cast<unsigned>(h.size()));
    const std::string zeros(1 << 20, '\0');
    for (int i = 0; i < 200; ++i) gzwrite(gz, zeros.data(), static_cast<unsigned>(zeros.size()));
    gzclose(gz);
    std::ofstream(dir + "/set/" + split + "-labels-idx1-ubyte", std::ios::binary)
        << header(0x801, {10}) << std::string(10, '\x01');
  }
  check_one_line_error(run_actlab(train), "the file holds more");
  // No test images: a run could report no accuracy.
  fs::remove_all(dir + "/set");
  write_set(header(0x803, {1, 28, 28}) + std::string(784, '\x10'), header(0x801, {1}) + "\x01");
  std::ofstream(dir + "/set/t10k-images-idx3-ubyte", std::ios::binary) << header(0x803, {0, 28, 28});
  std::ofstream(dir + "/set/t10k-labels-idx1-ubyte", std::ios::binary) << header(0x801, {0});
  check_one_line_error(run_actlab(train), "the test split of " + dir + "/set is empty");
  CHECK_FALSE(fs::exists(dir + "/run"));
  // A FIFO where a file should be.
  fs::remove(dir + "/set/t10k-images-idx3-ubyte");
  REQUIRE(::mkfifo((dir + "/set/t10k-images-idx3-ubyte").c_str(), 0600) == 0);
  check_one_line_error(run_actlab(train), "is not a regular file");
  fs::remove_all(dir);
}

TEST_CASE("--act-at globs: * within a segment, ** across segments, as a regular expression reads them, and 80 stars at once") {
  // The reference, on "." + name: each segment "\\.x" with `*` as "[^.]*", and
  // `**` as any run of whole segments, "(\\.[^.]*)*".
  const auto reference = [](const std::string& glob, const std::string& name) {
    std::string re;
    std::stringstream in(glob);
    for (std::string part; std::getline(in, part, '.');) {
      if (part == "**") {
        re += "(\\.[^.]*)*";
        continue;
      }
      re += "\\.";
      for (char c : part) re += c == '*' ? std::string("[^.]*") : std::string(1, c);
    }
    return std::regex_match("." + name, std::regex(re));
  };
  Random rng(5);
  const std::vector<std::string> pieces{"a", "b", "*", "ab", "a*", "*b", "**"};
  int checked = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    std::string glob, name;
    const int segments = 1 + static_cast<int>(rng.uniform(0.0f, 3.99f));
    for (int s = 0; s < segments; ++s)
      glob += (s ? "." : "") + pieces[static_cast<size_t>(rng.uniform(0.0f, 6.99f))];
    const int name_segments = 1 + static_cast<int>(rng.uniform(0.0f, 3.99f));
    for (int s = 0; s < name_segments; ++s) {
      name += s ? "." : "";
      const int length = 1 + static_cast<int>(rng.uniform(0.0f, 2.99f));
      for (int c = 0; c < length; ++c) name += rng.uniform(0.0f, 1.0f) < 0.5f ? 'a' : 'b';
    }
    CHECK_MESSAGE(glob_match(glob, name) == reference(glob, name), "'" << glob << "' against '" << name << "'");
    ++checked;
  }
  CHECK(checked > 3000);
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(glob_match(std::string(80, '*') + "x", std::string(60, 'a')));
  CHECK_FALSE(glob_match("**.**.**.**.**.**.**.**.**.**.x", "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a"));
  CHECK(glob_match("layer1.*.act*", "layer1.0.act2"));
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 1.0);
  check_one_line_error(run_actlab("summary --act-at '" + std::string(80, '*') + "x=silu'"), "matches no activation position");
}

TEST_CASE("absurd numbers are refused naming the flag or the option") {
  check_one_line_error(run_actlab("train --data " + kTiny + " --lr 1e30"), "--lr: expected a number from 0 up to (not including) 10000");
  check_one_line_error(run_actlab("train --data " + kTiny + " --wd 1e22"), "--wd: expected a number from 0 up to (not including) 1");
  check_one_line_error(run_actlab("train --data " + kTiny + " --warmup 1e30"), "--warmup: expected a number");
  check_one_line_error(run_actlab("train --data " + kTiny + " --epochs 2 --warmup 3"), "--warmup 3 is longer than the run (2 epochs)");
  check_one_line_error(run_actlab("train --data " + kTiny + " --threads 100000"), "--threads: expected a whole number from 1 to 1024");
  for (const std::string spec : {"swish(beta=inf)", "swish(beta=nan)", "leaky-relu(slope=-inf)", "pwlu(momentum=nan)",
                                 "swish(beta=1e50)"})
    check_one_line_error(run_actlab("summary --act '" + spec + "'"), "must be a finite number");
  // Found by fuzz_spec: sizes that asked for gigabytes of parameters.
  check_one_line_error(run_actlab("summary --act 'pwlu(n=811111144)'"), "option 'n' must be at most 1024");
  check_one_line_error(run_actlab("summary --act 'meta-acon(r=811111144)'"), "option 'r' must be from 1 to 1024");
}

TEST_CASE("eval uses the model and activation the checkpoint recorded, and a flag that contradicts them is an error") {
  const std::string dir = temp_dir("eval-act");
  REQUIRE(run_actlab("train --act silu --data " + kTiny + " --epochs 1 --batch 16 --threads 2 --out " + dir + "/run").status == 0);
  const std::string eval = "eval --data " + kTiny + " --json --threads 2 --checkpoint " + dir + "/run/model.safetensors";
  const Run recorded = run_actlab(eval), named = run_actlab(eval + " --act silu");
  REQUIRE_MESSAGE(recorded.status == 0, recorded.err);
  REQUIRE_MESSAGE(named.status == 0, named.err);
  CHECK(nlohmann::json::parse(recorded.out) == nlohmann::json::parse(named.out));
  check_one_line_error(run_actlab(eval + " --act relu"), "--act relu differs from what");
  check_one_line_error(run_actlab(eval + " --model resnet32"), "--model resnet32 differs from what");
  check_one_line_error(run_actlab(eval + " --act-at 'layer1.**=relu'"), "--act-at");
  fs::remove_all(dir);
}

TEST_CASE("--conv-algorithm direct is recorded in config.json and kept by --resume, and another value is an error") {
  const std::string dir = temp_dir("conv-algorithm");
  check_one_line_error(run_actlab("train --data " + kTiny + " --conv-algorithm winograd --out " + dir + "/x"),
                       "--conv-algorithm");
  const Run r = run_actlab("train --data " + kTiny + " --epochs 2 --max-steps 4 --batch 16 --threads 1 --conv-algorithm direct --out " +
                           dir + "/run");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(nlohmann::json::parse(slurp(dir + "/run/config.json"))["conv_algorithm"] == "direct");
  const Run resumed = run_actlab("train --epochs 2 --threads 1 --resume " + dir + "/run");
  REQUIRE_MESSAGE(resumed.status == 0, resumed.err);
  CHECK(nlohmann::json::parse(slurp(dir + "/run/config.json"))["conv_algorithm"] == "direct");
  fs::remove_all(dir);
}
