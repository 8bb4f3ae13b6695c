// Listing an imagefolder (see imagefolder.h). Every problem with the layout is
// one Error naming the path; a bad file is only left out and reported.
#include "data/imagefolder.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <thread>

#include "core/error.h"
#include "data/image.h"

namespace actlab {
namespace fs = std::filesystem;
namespace {

const char* const kLayout = "expected DIR/train/<class>/*.jpg|*.jpeg|*.png and DIR/val/<class>/...";

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// Subdirectory names of dir, in byte order.
std::vector<std::string> subdirectories(const fs::path& dir) {
  std::vector<std::string> names;
  for (const fs::directory_entry& e : fs::directory_iterator(dir))
    if (e.is_directory()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// stb's header check on every file, spread over the cores (reading a few
// hundred bytes per file is cheap, but a large subset has many files).
std::vector<std::string> probe_all(const std::vector<std::string>& files) {
  std::vector<std::string> why(files.size());
  const size_t workers = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 16);
  auto run = [&](size_t first) {
    for (size_t i = first; i < files.size(); i += workers)
      if (std::string reason; !probe_image(files[i], reason)) why[i] = reason.empty() ? "unreadable" : reason;
  };
  std::vector<std::thread> pool;
  for (size_t w = 1; w < std::min(workers, files.size()); ++w) pool.emplace_back(run, w);
  run(0);
  for (std::thread& t : pool) t.join();
  return why;
}

}  // namespace

Dataset read_imagefolder(const std::string& dir, Split split, int64_t size) {
  check(size >= 1, "--image-size must be at least 1 (got " + std::to_string(size) + ")");
  const fs::path root(dir), train_dir = root / "train";
  const fs::path split_dir = split == Split::train ? train_dir : root / "val";
  check(fs::is_directory(train_dir), "imagefolder: " + train_dir.string() + " not found (" + kLayout + ")");
  check(fs::is_directory(split_dir), "imagefolder: " + split_dir.string() + " not found (" + kLayout + ")");

  Dataset d;
  d.on_disk = true;
  d.channels = 3;
  d.height = d.width = size;
  d.mean = {0.485f, 0.456f, 0.406f};
  d.stddev = {0.229f, 0.224f, 0.225f};
  d.class_names = subdirectories(train_dir);
  check(!d.class_names.empty(), "imagefolder: " + train_dir.string() + " has no class directories (" + kLayout + ")");
  d.classes = static_cast<int64_t>(d.class_names.size());
  std::map<std::string, int32_t> index;
  for (size_t k = 0; k < d.class_names.size(); ++k) index[d.class_names[k]] = static_cast<int32_t>(k);

  std::vector<std::string> files;
  std::vector<int32_t> labels;
  int64_t ignored = 0;
  std::vector<int64_t> per_class(d.class_names.size(), 0);
  for (const std::string& name : subdirectories(split_dir)) {
    auto it = index.find(name);
    if (it == index.end())
      fail("imagefolder: class '" + name + "' of " + split_dir.string() + " has no directory in " + train_dir.string() +
           " (the classes are train/'s subdirectories)");
    std::vector<std::string> names;
    for (const fs::directory_entry& e : fs::directory_iterator(split_dir / name)) {
      if (e.is_regular_file() && is_image_name(e.path()))
        names.push_back(e.path().filename().string());
      else
        ++ignored;
    }
    std::sort(names.begin(), names.end());
    for (const std::string& file : names) {
      files.push_back((split_dir / name / file).string());
      labels.push_back(it->second);
    }
  }

  const std::vector<std::string> why = probe_all(files);
  for (size_t i = 0; i < files.size(); ++i) {
    if (!why[i].empty()) {
      d.skipped.push_back(files[i] + " (" + why[i] + ")");
      continue;
    }
    d.files.push_back(files[i]);
    d.labels.push_back(labels[i]);
    ++per_class[labels[i]];
  }
  d.count = static_cast<int64_t>(d.files.size());
  check(d.count > 0, "imagefolder: " + split_dir.string() + " holds no readable .jpg, .jpeg or .png image (" +
                         kLayout + ")");

  d.notes.push_back(split_dir.string() + ": " + std::to_string(d.count) + " images of " + std::to_string(d.classes) +
                    " classes, used at " + std::to_string(size) + "x" + std::to_string(size));
  std::vector<std::string> empty;
  for (size_t k = 0; k < per_class.size(); ++k)
    if (per_class[k] == 0) empty.push_back(d.class_names[k]);
  if (!empty.empty()) {
    std::string list;
    for (size_t k = 0; k < empty.size() && k < 5; ++k) list += (k ? ", " : "") + empty[k];
    if (empty.size() > 5) list += ", ...";
    d.notes.push_back("warning: " + std::to_string(empty.size()) + " of " + std::to_string(d.classes) +
                      " classes have no images in " + split_dir.string() + " (" + list +
                      "); they keep their indices");
  }
  if (ignored > 0)
    d.notes.push_back("ignored " + std::to_string(ignored) + (ignored == 1 ? " entry" : " entries") + " of " +
                      split_dir.string() +
                      "'s class directories that are not .jpg, .jpeg or .png files");
  if (!d.skipped.empty()) d.notes.push_back(describe_skipped(d.skipped));
  return d;
}

std::string describe_skipped(const std::vector<std::string>& skipped, size_t show) {
  if (skipped.empty()) return "";
  std::string text = std::to_string(skipped.size()) + (skipped.size() == 1 ? " image" : " images") +
                     " could not be decoded and " + (skipped.size() == 1 ? "was" : "were") + " skipped: ";
  for (size_t i = 0; i < skipped.size() && i < show; ++i) text += (i ? ", " : "") + skipped[i];
  if (skipped.size() > show) text += ", ...";
  return text;
}

}  // namespace actlab
