// Image classification data sets (SPEC 4). IDX (MNIST, Fashion-MNIST; plain
// or gzipped) and the CIFAR-10/100 binary versions are held in memory as uint8
// pixels; an imagefolder is a list of image files (and their labels) that the
// loader decodes as it goes. `--data KIND[:PATH]` names one.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace actlab {

enum class Split { train, test };

struct Dataset {
  std::string kind;                 // "fashion-mnist", "cifar10", "imagefolder", ...
  std::string path;                 // the directory it came from
  int64_t count = 0, channels = 0, height = 0, width = 0;   // a sample as the loader hands it out
  int64_t classes = 0;
  std::vector<uint8_t> pixels;      // in memory: [count, channels, height, width]
  std::vector<int32_t> labels;      // [count]
  std::array<float, 3> mean{}, stddev{};  // per channel, on the 0..1 scale
  bool flip = true;                 // horizontal flips are a valid augmentation
  // imagefolder: the samples stay on disk (pixels is empty) and the loader
  // decodes files[i] into a height × width RGB image.
  bool on_disk = false;
  std::vector<std::string> files;         // [count]
  std::vector<std::string> class_names;   // label → class directory name
  std::vector<std::string> skipped;       // "file: reason" for files left out because they are no readable image
  std::vector<std::string> notes;         // what the reader found worth telling (counts, empty classes)
  int64_t image_size() const { return channels * height * width; }
};

struct DataSource {
  std::string kind, path;
  int64_t image_size = 0;           // imagefolder: side of the square samples (0: the default, 224)
};

DataSource parse_data_source(const std::string& text);   // "fashion-mnist[:DIR]", throws Error
Dataset load_dataset(const DataSource& source, Split split);

// Readers, exposed for tests.
Dataset read_idx(const std::string& images_file, const std::string& labels_file);
Dataset read_cifar(const std::vector<std::string>& files, bool cifar100);

}  // namespace actlab
