// The safetensors format: 8-byte little-endian header length N, N bytes of JSON
// header ({name: {dtype, shape, data_offsets: [begin, end)}, "__metadata__":
// {string: string}}), then the data region the offsets index into.
//
// The reader trusts nothing in the file. Every problem is a quarot::Error whose
// message starts with the file path and names the tensor or field at fault.
// Like Hugging Face's own reader, it refuses a data region that the tensors do
// not cover exactly (a gap, an overlap, or trailing bytes): any of these means
// a broken writer or a truncated/edited header, and loading such a file would
// hand out bytes that belong to nothing or to two tensors at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/io/dtype.h"

namespace quarot {

class MappedFile;

struct TensorInfo {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t data_begin = 0;   // offset into the data region, as the header says
  uint64_t file_offset = 0;  // absolute offset in the file: 8 + N + data_begin
  uint64_t nbytes = 0;
  int64_t numel() const;
};

// False when a dimension is negative or the byte count overflows 64 bits.
bool checked_nbytes(DType t, const std::vector<int64_t>& shape, uint64_t* nbytes);
// "[2, 3]"
std::string shape_str(const std::vector<int64_t>& shape);

class SafetensorsFile {
 public:
  // Maps `path` read-only and validates the whole header.
  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  // Tensor names, sorted.
  const std::vector<std::string>& names() const { return names_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Both throw quarot::Error naming the file and the tensor when it is absent.
  const TensorInfo& info(const std::string& name) const;
  // Points into the map; valid while this object (or keep_alive()) lives. Only
  // as aligned as the writer made it: copy with memcpy, or use read_float.
  const void* data(const std::string& name) const;
  // Converts any supported dtype to float.
  std::vector<float> read_float(const std::string& name) const;
  // The "__metadata__" map (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Keeps the mapping alive, e.g. for a TensorSet that borrows data(name).
  std::shared_ptr<const void> keep_alive() const;
  uint64_t file_size() const;

 private:
  std::filesystem::path path_;
  std::shared_ptr<const MappedFile> map_;
  std::map<std::string, TensorInfo> tensors_;
  std::vector<std::string> names_;
  std::map<std::string, std::string> metadata_;
};

// One tensor to be written: borrowed bytes, kept alive by `owner` if set.
struct TensorSource {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  uint64_t nbytes = 0;
  std::shared_ptr<const void> owner;
};

// The tensors (and metadata) of a file or checkpoint about to be written.
// Metadata starts as {"format": "pt"}, which transformers requires of any file
// that has metadata at all.
class TensorSet {
 public:
  TensorSet();
  // Borrows `data` (numel * itemsize bytes); it must stay valid until written
  // unless `owner` keeps it alive.
  void add(std::string name, DType dtype, std::vector<int64_t> shape, const void* data,
           std::shared_ptr<const void> owner = nullptr);
  // Takes ownership of `bytes`, whose size must match the shape.
  void add(std::string name, DType dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes);
  // Converts `values` (numel floats) to the floating type `dtype` and owns the result.
  void add_from_float(std::string name, DType dtype, std::vector<int64_t> shape, const float* values);
  // Shares `name` from an open file without copying (the set keeps the map alive).
  void add_from(const SafetensorsFile& file, const std::string& name, std::string new_name = "");

  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const TensorSource& get(const std::string& name) const;
  const std::vector<TensorSource>& tensors() const { return tensors_; }  // in insertion order
  uint64_t total_bytes() const { return total_bytes_; }

  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  void clear_metadata() { metadata_.clear(); }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::vector<TensorSource> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  uint64_t total_bytes_ = 0;
};

// Writes atomically (temporary sibling, fsync, rename). The data region is
// ordered by element size (largest first), then name, as Hugging Face orders it,
// so every tensor lands naturally aligned; the header is padded with spaces to
// a multiple of 8 bytes.
void write_safetensors(const std::filesystem::path& path, const TensorSet& set);
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<const TensorSource*>& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace quarot
