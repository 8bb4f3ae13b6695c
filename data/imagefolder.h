// The imagefolder layout (SPEC 4): DIR/train/<class>/*.{jpg,jpeg,png} and
// DIR/val/<class>/...; classes are train/'s subdirectories in byte order, and
// val's directories map to them by name. Files are listed in byte order and
// their headers checked here; the loader decodes them (data/image.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace actlab {

constexpr int64_t kDefaultImageSize = 224;

// Lists split's images (train/ or val/) as an on-disk Dataset of size × size
// samples. Files whose header libjpeg-turbo or libpng cannot read are left out and listed in
// `skipped`; an empty class is kept (its index stays) with a note. Throws
// Error for a missing train/ or val/, a val class unknown to train/, or a split
// without a single readable image.
Dataset read_imagefolder(const std::string& dir, Split split, int64_t size);

// "3 images could not be decoded and were skipped: a.jpg (reason), ..." with
// the first `show` entries; empty when there are none.
std::string describe_skipped(const std::vector<std::string>& skipped, size_t show = 3);

}  // namespace actlab
