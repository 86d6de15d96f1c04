#include "lib/io/checkpoint.h"

#include <nlohmann/json.hpp>

#include "lib/core/error.h"
#include "lib/core/files.h"

namespace fs = std::filesystem;

namespace quarot {
namespace {

using json = nlohmann::json;

// Shard names come from the index; never let one point outside the directory.
void check_shard_name(const std::string& index, const std::string& tensor, const std::string& file) {
  const fs::path p(file);
  bool ok = !file.empty() && p.is_relative();
  for (const auto& part : p)
    if (part == "..") ok = false;
  QUAROT_CHECK(ok, index, ": weight_map gives tensor '", tensor, "' the file name '", file,
               "', which is not a plain file name inside the checkpoint directory");
}

}  // namespace

Checkpoint::Checkpoint(const fs::path& dir) : dir_(dir) {
  QUAROT_CHECK(fs::is_directory(dir), dir.string(), ": not a directory");
  const fs::path single = dir / kSingleWeightsFile;
  const fs::path index = dir / kWeightsIndexFile;
  if (fs::exists(single)) {
    files_.push_back(std::make_shared<SafetensorsFile>(single));
    for (const auto& n : files_[0]->names()) where_[n] = files_[0].get();
  } else if (fs::exists(index)) {
    sharded_ = true;
    const std::string ipath = index.string();
    json j;
    try {
      j = json::parse(read_text_file(index));
    } catch (const json::exception& e) {
      QUAROT_FAIL(ipath, ": malformed JSON: ", e.what());
    }
    QUAROT_CHECK(j.is_object(), ipath, ": top level is a ", j.type_name(), ", not an object");
    QUAROT_CHECK(j.contains("weight_map"), ipath, ": missing field 'weight_map'");
    const json& wm = j["weight_map"];
    QUAROT_CHECK(wm.is_object(), ipath, ": field 'weight_map' is a ", wm.type_name(),
                 ", not an object");
    QUAROT_CHECK(!wm.empty(), ipath, ": field 'weight_map' is empty");
    if (j.contains("metadata"))
      QUAROT_CHECK(j["metadata"].is_object(), ipath, ": field 'metadata' is a ",
                   j["metadata"].type_name(), ", not an object");

    std::map<std::string, std::string> file_of;            // tensor -> shard
    std::map<std::string, std::vector<std::string>> wants;  // shard -> tensors
    for (auto it = wm.begin(); it != wm.end(); ++it) {
      QUAROT_CHECK(it.value().is_string(), ipath, ": weight_map entry for tensor '", it.key(),
                   "' is a ", it.value().type_name(), ", not a file name");
      const std::string f = it.value().get<std::string>();
      check_shard_name(ipath, it.key(), f);
      file_of[it.key()] = f;
      wants[f].push_back(it.key());
    }
    for (const auto& [shard, tensors] : wants) {
      const fs::path sp = dir / shard;
      QUAROT_CHECK(fs::is_regular_file(sp), ipath, ": weight_map puts tensor '", tensors.front(),
                   "' in ", shard, ", but ", sp.string(), " does not exist");
      auto f = std::make_shared<SafetensorsFile>(sp);
      for (const auto& t : tensors)
        QUAROT_CHECK(f->has(t), ipath, ": weight_map puts tensor '", t, "' in ", shard,
                     ", but that file has no such tensor");
      for (const auto& t : f->names()) {
        auto w = file_of.find(t);
        QUAROT_CHECK(w != file_of.end(), sp.string(), ": holds tensor '", t, "', which ", ipath,
                     " does not list");
        QUAROT_CHECK(w->second == shard, "tensor '", t, "' is stored twice: in ", sp.string(),
                     " and in ", (dir / w->second).string(), " (which ", ipath, " names)");
        where_[t] = f.get();
      }
      files_.push_back(std::move(f));
    }
  } else {
    QUAROT_FAIL(dir.string(), ": no ", kSingleWeightsFile, " or ", kWeightsIndexFile,
                fs::exists(dir / "pytorch_model.bin")
                    ? " (pytorch_model.bin is not supported: convert the checkpoint to safetensors)"
                    : "");
  }
  names_.reserve(where_.size());
  for (const auto& kv : where_) names_.push_back(kv.first);
}

const SafetensorsFile& Checkpoint::file_of(const std::string& name) const {
  auto it = where_.find(name);
  QUAROT_CHECK(it != where_.end(), dir_.string(), ": checkpoint has no tensor named '", name, "'");
  return *it->second;
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  return file_of(name).info(name);
}

const void* Checkpoint::data(const std::string& name) const { return file_of(name).data(name); }

std::vector<float> Checkpoint::read_float(const std::string& name) const {
  return file_of(name).read_float(name);
}

}  // namespace quarot
