#include <algorithm>
#include <nlohmann/json.hpp>

#include "lib/core/error.h"
#include "lib/io/atomic_output.h"
#include "lib/io/safetensors.h"

namespace quarot {
namespace {

uint64_t source_nbytes(const std::string& name, DType dtype, const std::vector<int64_t>& shape) {
  QUAROT_CHECK(!name.empty(), "tensor to write has an empty name");
  QUAROT_CHECK(name != "__metadata__", "tensor to write is named '__metadata__', which safetensors reserves");
  uint64_t n;
  QUAROT_CHECK(checked_nbytes(dtype, shape, &n), "tensor '", name, "': shape ", shape_str(shape),
               " of ", dtype_name(dtype), " is negative or overflows");
  return n;
}

}  // namespace

TensorSet::TensorSet() { metadata_["format"] = "pt"; }

void TensorSet::add(std::string name, DType dtype, std::vector<int64_t> shape, const void* data,
                    std::shared_ptr<const void> owner) {
  const uint64_t n = source_nbytes(name, dtype, shape);
  QUAROT_CHECK(!has(name), "tensor '", name, "' added twice to one output");
  QUAROT_CHECK(data != nullptr || n == 0, "tensor '", name, "': no data given");
  index_[name] = tensors_.size();
  tensors_.push_back({std::move(name), dtype, std::move(shape), data, n, std::move(owner)});
  total_bytes_ += n;
}

void TensorSet::add(std::string name, DType dtype, std::vector<int64_t> shape,
                    std::vector<uint8_t> bytes) {
  const uint64_t n = source_nbytes(name, dtype, shape);
  QUAROT_CHECK(bytes.size() == n, "tensor '", name, "': shape ", shape_str(shape), " of ",
               dtype_name(dtype), " needs ", n, " bytes but ", bytes.size(), " were given");
  auto owned = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  const void* p = owned->data();
  add(std::move(name), dtype, std::move(shape), p, std::move(owned));
}

void TensorSet::add_from_float(std::string name, DType dtype, std::vector<int64_t> shape,
                               const float* values) {
  QUAROT_CHECK(dtype_is_float(dtype), "tensor '", name, "': cannot store floats as ",
               dtype_name(dtype));
  const uint64_t n = source_nbytes(name, dtype, shape);
  std::vector<uint8_t> bytes(n);
  convert_from_float(values, n / dtype_size(dtype), dtype, bytes.data());
  add(std::move(name), dtype, std::move(shape), std::move(bytes));
}

void TensorSet::add_from(const SafetensorsFile& file, const std::string& name,
                         std::string new_name) {
  const TensorInfo& ti = file.info(name);
  add(new_name.empty() ? name : std::move(new_name), ti.dtype, ti.shape, file.data(name),
      file.keep_alive());
}

const TensorSource& TensorSet::get(const std::string& name) const {
  auto it = index_.find(name);
  QUAROT_CHECK(it != index_.end(), "no tensor named '", name, "' in the output set");
  return tensors_[it->second];
}

void write_safetensors(const std::filesystem::path& path, const TensorSet& set) {
  std::vector<const TensorSource*> all;
  for (const auto& t : set.tensors()) all.push_back(&t);
  write_safetensors(path, all, set.metadata());
}

void write_safetensors(const std::filesystem::path& path,
                       const std::vector<const TensorSource*>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorSource*> order = tensors;
  std::sort(order.begin(), order.end(), [](const TensorSource* a, const TensorSource* b) {
    size_t sa = dtype_size(a->dtype), sb = dtype_size(b->dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });
  for (size_t i = 1; i < order.size(); ++i)
    QUAROT_CHECK(order[i]->name != order[i - 1]->name, path.string(), ": tensor '",
                 order[i]->name, "' given twice");

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    auto& m = header["__metadata__"];
    m = nlohmann::ordered_json::object();
    for (const auto& kv : metadata) m[kv.first] = kv.second;
  }
  uint64_t offset = 0;
  for (const TensorSource* t : order) {
    QUAROT_ASSERT(t->name != "__metadata__");
    auto& e = header[t->name];
    e["dtype"] = dtype_name(t->dtype);
    e["shape"] = t->shape;
    e["data_offsets"] = {offset, offset + t->nbytes};
    offset += t->nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {  // invalid UTF-8 in a name or metadata
    QUAROT_FAIL(path.string(), ": cannot encode the header: ", e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  AtomicOutput out(path);
  const uint64_t n = text.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  out.write(len, 8);
  out.write(text.data(), text.size());
  for (const TensorSource* t : order) out.write(t->data, t->nbytes);
  out.commit();
}

}  // namespace quarot
