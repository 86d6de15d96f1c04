// A Hugging Face checkpoint directory: either one model.safetensors, or shards
// listed by model.safetensors.index.json ({"metadata": {"total_size": N},
// "weight_map": {tensor: shard file}}). Lookups are by tensor name whatever the
// layout. When both layouts are present, model.safetensors wins, as it does in
// transformers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/io/safetensors.h"

namespace quarot {

inline constexpr const char* kSingleWeightsFile = "model.safetensors";
inline constexpr const char* kWeightsIndexFile = "model.safetensors.index.json";

class Checkpoint {
 public:
  // Opens and validates every file; throws quarot::Error naming the directory,
  // file and tensor at fault.
  explicit Checkpoint(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  bool sharded() const { return sharded_; }
  const std::vector<std::string>& names() const { return names_; }  // sorted
  bool has(const std::string& name) const { return where_.count(name) != 0; }
  // These throw quarot::Error naming the directory and tensor when absent.
  const TensorInfo& info(const std::string& name) const;
  const void* data(const std::string& name) const;
  std::vector<float> read_float(const std::string& name) const;
  const SafetensorsFile& file_of(const std::string& name) const;
  // The files, in the order of their names.
  const std::vector<std::shared_ptr<const SafetensorsFile>>& files() const { return files_; }

 private:
  std::filesystem::path dir_;
  bool sharded_ = false;
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> where_;
  std::vector<std::string> names_;
};

// Writes the weights of `set` into the existing directory `dir`: one
// model.safetensors when `max_shard_bytes` is 0 or everything fits, else
// model-0000i-of-0000n.safetensors shards of at most `max_shard_bytes` of tensor
// data each (a single larger tensor gets a shard of its own) plus the index,
// whose metadata.total_size is the sum of tensor bytes. Tensors are assigned to
// shards in name order. Each file is written atomically and the index last, so
// the directory never names a shard that is not complete. The set's metadata
// goes into every file. Refuses a directory that already holds weights (a
// stage writes a fresh directory; see write_dir_atomic in lib/core/files.h).
// Returns the names of the files written, index last.
std::vector<std::string> write_checkpoint_weights(const std::filesystem::path& dir,
                                                  const TensorSet& set,
                                                  uint64_t max_shard_bytes = 0);

// Copies the tokenizer and generation files a checkpoint carries
// (tokenizer.json, tokenizer_config.json, special_tokens_map.json,
// generation_config.json, tokenizer.model) from `in_dir` to `out_dir` when
// present, each atomically. Weights, config.json and quarot.json are left to
// their writers. Returns the names copied.
std::vector<std::string> copy_side_files(const std::filesystem::path& in_dir,
                                         const std::filesystem::path& out_dir);

}  // namespace quarot
