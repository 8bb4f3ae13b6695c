// IDX and CIFAR binary readers (see dataset.h). Every malformed file stops
// with a message naming the file, what was expected and what was found.
#include "data/dataset.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "data/imagefolder.h"

namespace actlab {
namespace fs = std::filesystem;
namespace {

// A data file, gzip undone transparently (zlib reads plain files too), read
// in pieces: a header's promise is checked before the bytes it promises are
// read, no more than those are held (a gzip bomb costs what its header
// claims, not what it inflates to), and a FIFO or device is refused instead
// of read forever.
class DataFile {
 public:
  explicit DataFile(std::string path) : path_(std::move(path)) {
    struct stat info{};
    if (::stat(path_.c_str(), &info) != 0) fail("data: file not found: " + path_);
    if (!S_ISREG(info.st_mode)) fail("data: " + path_ + " is not a regular file");
    file_ = gzopen(path_.c_str(), "rb");
    if (!file_) fail("data: cannot open " + path_);
  }
  ~DataFile() { gzclose(file_); }
  DataFile(const DataFile&) = delete;
  DataFile& operator=(const DataFile&) = delete;

  // Up to `count` more bytes; fewer only at the end of the file.
  std::vector<uint8_t> read(uint64_t count) {
    std::vector<uint8_t> out;
    try {
      while (out.size() < count) {
        // Pieces that double as the file proves to hold them: a header that
        // promises gigabytes costs nothing until the bytes arrive.
        const uint64_t next = std::max<uint64_t>(uint64_t{1} << 16, out.size());
        const size_t piece = static_cast<size_t>(std::min<uint64_t>(count - out.size(), std::min<uint64_t>(next, 1 << 24)));
        const size_t at = out.size();
        out.resize(at + piece);
        const int n = gzread(file_, out.data() + at, static_cast<unsigned>(piece));
        if (n < 0) {
          int code = 0;
          fail("data: " + path_ + " is corrupt (" + gzerror(file_, &code) + ")");
        }
        out.resize(at + static_cast<size_t>(n));
        if (n == 0) break;
      }
    } catch (const std::bad_alloc&) {
      fail("data: " + path_ + ": not enough memory for the " + std::to_string(count) + " bytes it promises");
    }
    return out;
  }

  bool at_end() {
    uint8_t byte;
    return gzread(file_, &byte, 1) == 0;
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

uint32_t big_endian(const std::vector<uint8_t>& b, size_t at) {
  return (uint32_t(b[at]) << 24) | (uint32_t(b[at + 1]) << 16) | (uint32_t(b[at + 2]) << 8) | uint32_t(b[at + 3]);
}

// `name` or `name.gz` inside dir
std::string find_file(const std::string& dir, const std::string& name) {
  for (const std::string& candidate : {name, name + ".gz"}) {
    fs::path p = fs::path(dir) / candidate;
    if (fs::exists(p)) return p.string();
  }
  fail("data: " + (fs::path(dir) / name).string() + "[.gz] not found");
}

}  // namespace

DataSource parse_data_source(const std::string& text) {
  const size_t colon = text.find(':');
  DataSource s{text.substr(0, colon), colon == std::string::npos ? "" : text.substr(colon + 1)};
  if (s.kind == "fashion-mnist") {
    if (s.path.empty()) s.path = "/usr/share/datasets/fashion-mnist";
  } else if (s.kind == "mnist" || s.kind == "cifar10" || s.kind == "cifar100") {
    if (s.path.empty()) fail("--data: " + s.kind + " needs a directory: --data " + s.kind + ":DIR");
  } else if (s.kind == "imagefolder") {
    if (s.path.empty()) fail("--data: imagefolder needs a directory: --data imagefolder:DIR (DIR/train/<class>/*.jpg)");
  } else {
    fail("--data: unknown data set '" + s.kind +
         "' (expected fashion-mnist[:DIR], mnist:DIR, cifar10:DIR, cifar100:DIR, imagefolder:DIR)");
  }
  if (!fs::is_directory(s.path)) fail("--data: directory not found: " + s.path);
  return s;
}

Dataset read_idx(const std::string& images_file, const std::string& labels_file) {
  DataFile image_data(images_file), label_data(labels_file);
  const std::vector<uint8_t> header = image_data.read(16), label_header = label_data.read(8);
  if (header.size() < 16 || big_endian(header, 0) != 0x00000803)
    fail("data: " + images_file + " is not an IDX image file (expected magic 0x00000803 and a 16-byte header)");
  if (label_header.size() < 8 || big_endian(label_header, 0) != 0x00000801)
    fail("data: " + labels_file + " is not an IDX label file (expected magic 0x00000801 and an 8-byte header)");
  Dataset d;
  d.count = big_endian(header, 4);
  d.channels = 1;
  d.height = big_endian(header, 8);
  d.width = big_endian(header, 12);
  if (d.height < 1 || d.width < 1 || d.height > 4096 || d.width > 4096)
    fail("data: " + images_file + " is malformed: its header gives images of " + std::to_string(d.height) + "x" +
         std::to_string(d.width) + " (expected sides of 1 to 4096)");
  // count < 2^32 and H·W ≤ 2^24: the product fits in 64 bits.
  const uint64_t pixel_bytes = static_cast<uint64_t>(d.count) * static_cast<uint64_t>(d.height * d.width);
  const auto promise = [&] {
    return "its header promises " + std::to_string(d.count) + " images of " + std::to_string(d.height) + "x" +
           std::to_string(d.width) + " (" + std::to_string(16 + pixel_bytes) + " bytes)";
  };
  std::vector<uint8_t> images = image_data.read(pixel_bytes);
  if (images.size() != pixel_bytes)
    fail("data: " + images_file + " is truncated or malformed: " + promise() + ", the file has " +
         std::to_string(16 + images.size()) + " bytes");
  if (!image_data.at_end()) fail("data: " + images_file + " is malformed: " + promise() + ", the file holds more");
  const int64_t label_count = big_endian(label_header, 4);
  if (label_count != d.count)
    fail("data: " + labels_file + " has " + std::to_string(label_count) + " labels but " + images_file + " has " +
         std::to_string(d.count) + " images");
  const std::vector<uint8_t> labels = label_data.read(static_cast<uint64_t>(label_count));
  if (static_cast<int64_t>(labels.size()) != label_count || !label_data.at_end())
    fail("data: " + labels_file + " is truncated or malformed: its header promises " + std::to_string(label_count) +
         " labels (" + std::to_string(8 + label_count) + " bytes), the file has " +
         (static_cast<int64_t>(labels.size()) == label_count ? "more" : std::to_string(8 + labels.size())) + " bytes");
  d.pixels = std::move(images);
  d.labels.resize(d.count);
  d.classes = 0;
  for (int64_t i = 0; i < d.count; ++i) {
    d.labels[i] = labels[i];
    d.classes = std::max<int64_t>(d.classes, d.labels[i] + 1);
  }
  return d;
}

Dataset read_cifar(const std::vector<std::string>& files, bool cifar100) {
  const size_t record = cifar100 ? 3074 : 3073;
  Dataset d;
  d.channels = 3;
  d.height = d.width = 32;
  d.classes = cifar100 ? 100 : 10;
  for (const std::string& file : files) {
    // CIFAR's largest file holds 50,000 records (154 MB); more than 2^30 bytes is no CIFAR file.
    constexpr uint64_t kMostBytes = uint64_t{1} << 30;
    const std::vector<uint8_t> bytes = DataFile(file).read(kMostBytes + 1);
    if (bytes.size() > kMostBytes) fail("data: " + file + " is over 1 GiB: not a CIFAR binary file");
    if (bytes.empty() || bytes.size() % record != 0)
      fail("data: " + file + " is truncated or malformed: expected a multiple of " + std::to_string(record) +
           "-byte records, the file has " + std::to_string(bytes.size()) + " bytes");
    const size_t n = bytes.size() / record;
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* r = bytes.data() + i * record;
      const int label = cifar100 ? r[1] : r[0];
      if (label >= d.classes)
        fail("data: " + file + " record " + std::to_string(i) + " has label " + std::to_string(label) +
             ", expected below " + std::to_string(d.classes));
      d.labels.push_back(label);
      d.pixels.insert(d.pixels.end(), r + record - 3072, r + record);
    }
  }
  d.count = static_cast<int64_t>(d.labels.size());
  return d;
}

Dataset load_dataset(const DataSource& source, Split split) {
  Dataset d;
  const bool train = split == Split::train;
  if (source.kind == "imagefolder") {
    d = read_imagefolder(source.path, split, source.image_size > 0 ? source.image_size : kDefaultImageSize);
  } else if (source.kind == "fashion-mnist" || source.kind == "mnist") {
    const std::string prefix = train ? "train" : "t10k";
    d = read_idx(find_file(source.path, prefix + "-images-idx3-ubyte"),
                 find_file(source.path, prefix + "-labels-idx1-ubyte"));
    d.classes = 10;
    for (int32_t label : d.labels)
      if (label >= 10) fail("data: label " + std::to_string(label) + " in " + source.path + " is outside 0..9");
    if (source.kind == "fashion-mnist") {
      d.mean = {0.2860f, 0.2860f, 0.2860f};
      d.stddev = {0.3530f, 0.3530f, 0.3530f};
    } else {
      d.mean = {0.1307f, 0.1307f, 0.1307f};
      d.stddev = {0.3081f, 0.3081f, 0.3081f};
      d.flip = false;  // a mirrored digit is another digit, or none
    }
  } else if (source.kind == "cifar10") {
    std::vector<std::string> files;
    if (train)
      for (int i = 1; i <= 5; ++i) files.push_back((fs::path(source.path) / ("data_batch_" + std::to_string(i) + ".bin")).string());
    else
      files.push_back((fs::path(source.path) / "test_batch.bin").string());
    d = read_cifar(files, false);
    d.mean = {0.4914f, 0.4822f, 0.4465f};
    d.stddev = {0.2470f, 0.2435f, 0.2616f};
  } else {
    d = read_cifar({(fs::path(source.path) / (train ? "train.bin" : "test.bin")).string()}, true);
    d.mean = {0.5071f, 0.4865f, 0.4409f};
    d.stddev = {0.2673f, 0.2564f, 0.2762f};
  }
  d.kind = source.kind;
  d.path = source.path;
  return d;
}

}  // namespace actlab
