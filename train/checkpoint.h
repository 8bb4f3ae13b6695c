// Model checkpoints with PyTorch state_dict names (SPEC 3), and the resume
// state written beside them.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "layers/module.h"
#include "train/safetensors.h"

namespace actlab {

TensorFile model_state(Module& model, const std::map<std::string, std::string>& metadata);
void save_model(Module& model, const std::string& path, const std::map<std::string, std::string>& metadata);

struct LoadOptions {
  bool partial = false;                 // tensors the file lacks keep their current values
  std::vector<std::string> skip;        // prefixes ("fc.") neither loaded nor expected, on either side
};

struct LoadReport {
  std::vector<std::string> kept;        // model tensors the file lacked (partial load)
  std::vector<std::string> skipped;     // tensors left out by LoadOptions::skip
};

// Loads every parameter, buffer and counter after checking names, shapes and
// dtypes; a missing or unexpected tensor is an error unless the options allow
// it. The error lists exactly what differs. Nothing is changed unless all
// checks pass.
LoadReport load_model(Module& model, const std::string& path, const LoadOptions& options = {});
LoadReport load_model(Module& model, const TensorFile& file, const LoadOptions& options = {});

}  // namespace actlab
