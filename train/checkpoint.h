// Model checkpoints with PyTorch state_dict names (SPEC 3), and the resume
// state written beside them.
#pragma once
#include <map>
#include <string>

#include "layers/module.h"
#include "train/safetensors.h"

namespace actlab {

TensorFile model_state(Module& model, const std::map<std::string, std::string>& metadata);
void save_model(Module& model, const std::string& path, const std::map<std::string, std::string>& metadata);

// Loads every parameter, buffer and counter after checking names, shapes and
// dtypes; a missing or unexpected tensor is an error unless `partial`. The
// error lists exactly what differs. Nothing is changed unless all checks pass.
void load_model(Module& model, const std::string& path, bool partial = false);
void load_model(Module& model, const TensorFile& file, bool partial = false);

}  // namespace actlab
