#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/io/atomic_output.h"
#include "lib/io/checkpoint.h"

namespace fs = std::filesystem;

namespace quarot {
namespace {

bool is_weights_file(const std::string& name) {
  if (name == kSingleWeightsFile || name == kWeightsIndexFile) return true;
  const std::string suffix = ".safetensors";
  return name.rfind("model-", 0) == 0 && name.size() > suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shard_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

}  // namespace

std::vector<std::string> write_checkpoint_weights(const fs::path& dir, const TensorSet& set,
                                                  uint64_t max_shard_bytes) {
  QUAROT_CHECK(fs::is_directory(dir), dir.string(), ": output directory does not exist");
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    QUAROT_CHECK(!is_weights_file(n), dir.string(), ": already holds weights (", n,
                 "); write checkpoints into a fresh directory");
  }
  if (max_shard_bytes == 0 || set.total_bytes() <= max_shard_bytes) {
    write_safetensors(dir / kSingleWeightsFile, set);
    return {kSingleWeightsFile};
  }

  std::vector<const TensorSource*> order;
  for (const auto& t : set.tensors()) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const TensorSource* a, const TensorSource* b) { return a->name < b->name; });
  std::vector<std::vector<const TensorSource*>> shards;
  uint64_t used = 0;
  for (const TensorSource* t : order) {
    if (shards.empty() || (used > 0 && used + t->nbytes > max_shard_bytes)) {
      shards.emplace_back();
      used = 0;
    }
    shards.back().push_back(t);
    used += t->nbytes;
  }

  std::vector<std::string> written;
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = shard_name(i, shards.size());
    write_safetensors(dir / name, shards[i], set.metadata());
    for (const TensorSource* t : shards[i]) weight_map[t->name] = name;
    written.push_back(name);
  }
  nlohmann::json index = {{"metadata", {{"total_size", set.total_bytes()}}},
                          {"weight_map", weight_map}};
  write_file_atomic(dir / kWeightsIndexFile, index.dump(2) + "\n");
  written.push_back(kWeightsIndexFile);
  return written;
}

std::vector<std::string> copy_side_files(const fs::path& in_dir, const fs::path& out_dir) {
  static const char* const kSideFiles[] = {"tokenizer.json", "tokenizer_config.json",
                                           "special_tokens_map.json", "generation_config.json",
                                           "tokenizer.model"};
  QUAROT_CHECK(fs::is_directory(in_dir), in_dir.string(), ": not a directory");
  QUAROT_CHECK(fs::is_directory(out_dir), out_dir.string(), ": output directory does not exist");
  std::vector<std::string> copied;
  for (const char* name : kSideFiles) {
    if (!fs::is_regular_file(in_dir / name)) continue;
    copy_file_atomic(in_dir / name, out_dir / name);
    copied.push_back(name);
  }
  return copied;
}

}  // namespace quarot
