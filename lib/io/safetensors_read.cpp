#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "lib/core/error.h"
#include "lib/io/mapped_file.h"
#include "lib/io/safetensors.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; quarot serves it without byte swapping");

namespace quarot {
namespace {

using json = nlohmann::json;

// Hugging Face's reader refuses larger headers too; it also bounds the memory a
// hostile file can make us spend parsing.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

bool json_u64(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = uint64_t(v.get<int64_t>());
    return true;
  }
  return false;
}

struct Span {
  uint64_t begin, end;
  const std::string* name;
};

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool checked_nbytes(DType t, const std::vector<int64_t>& shape, uint64_t* nbytes) {
  uint64_t n = dtype_size(t);
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, uint64_t(d), &n)) return false;
  }
  // numel() is int64; keep the element count representable there too.
  if (n / dtype_size(t) > uint64_t(std::numeric_limits<int64_t>::max())) return false;
  *nbytes = n;
  return true;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : path_(path) {
  const std::string file = path.string();
  map_ = MappedFile::open(path);
  const uint64_t size = map_->size();
  QUAROT_CHECK(size >= 8, file, ": file is ", size,
               " bytes, shorter than the 8-byte safetensors header length");
  uint64_t n;
  std::memcpy(&n, map_->data(), 8);
  QUAROT_CHECK(n <= kMaxHeaderBytes, file, ": header length ", n,
               " exceeds the 100 MB limit (not a safetensors file?)");
  QUAROT_CHECK(n <= size - 8, file, ": header length ", n, " runs past the end of the file (",
               size, " bytes)");
  const uint64_t data_start = 8 + n;
  const uint64_t data_size = size - data_start;

  // Top-level duplicate keys would otherwise silently keep the last entry.
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t on_event = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  json header;
  const char* text = reinterpret_cast<const char*>(map_->data() + 8);
  // nlohmann stops at a NUL as if the input ended, which would accept anything
  // after it; valid JSON text never holds one, and the format pads with spaces.
  QUAROT_CHECK(std::memchr(text, 0, n) == nullptr, file,
               ": malformed JSON header: it holds a NUL byte (padding must be spaces)");
  try {
    header = json::parse(text, text + n, on_event);
  } catch (const json::exception& e) {
    QUAROT_FAIL(file, ": malformed JSON header: ", e.what());
  }
  QUAROT_CHECK(header.is_object(), file, ": JSON header is a ", header.type_name(),
               ", not an object");
  QUAROT_CHECK(duplicate.empty(), file, ": tensor '", duplicate,
               "' appears twice in the header");

  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      QUAROT_CHECK(v.is_object(), file, ": __metadata__ is a ", v.type_name(), ", not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        QUAROT_CHECK(m.value().is_string(), file, ": __metadata__ field '", m.key(), "' is a ",
                     m.value().type_name(), "; safetensors metadata values must be strings");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = file + ": tensor '" + name + "'";
    QUAROT_CHECK(v.is_object(), where, ": header entry is a ", v.type_name(), ", not an object");
    QUAROT_CHECK(v.contains("dtype"), where, ": missing field 'dtype'");
    QUAROT_CHECK(v.contains("shape"), where, ": missing field 'shape'");
    QUAROT_CHECK(v.contains("data_offsets"), where, ": missing field 'data_offsets'");
    const json& jd = v["dtype"];
    const json& js = v["shape"];
    const json& jo = v["data_offsets"];
    QUAROT_CHECK(jd.is_string(), where, ": field 'dtype' is a ", jd.type_name(), ", not a string");
    TensorInfo info;
    info.dtype = parse_dtype(jd.get<std::string>(), file, name);
    QUAROT_CHECK(js.is_array(), where, ": field 'shape' is a ", js.type_name(), ", not an array");
    for (const json& d : js) {
      uint64_t dim;
      QUAROT_CHECK(json_u64(d, &dim) && dim <= uint64_t(std::numeric_limits<int64_t>::max()),
                   where, ": field 'shape' holds ", d.dump(),
                   ", not a non-negative integer");
      info.shape.push_back(int64_t(dim));
    }
    QUAROT_CHECK(checked_nbytes(info.dtype, info.shape, &info.nbytes), where, ": shape ",
                 shape_str(info.shape), " of ", dtype_name(info.dtype), " overflows 64 bits");
    uint64_t begin, end;
    QUAROT_CHECK(jo.is_array() && jo.size() == 2 && json_u64(jo[0], &begin) &&
                     json_u64(jo[1], &end),
                 where, ": field 'data_offsets' is ", jo.dump(),
                 ", not two non-negative integers [begin, end]");
    QUAROT_CHECK(begin <= end, where, ": data_offsets [", begin, ", ", end, "] end before they begin");
    QUAROT_CHECK(end <= data_size, where, ": data_offsets [", begin, ", ", end,
                 "] run past the data region (", data_size, " bytes)");
    QUAROT_CHECK(end - begin == info.nbytes, where, ": shape ", shape_str(info.shape), " of ",
                 dtype_name(info.dtype), " needs ", info.nbytes, " bytes but data_offsets [", begin,
                 ", ", end, "] span ", end - begin);
    info.data_begin = begin;
    info.file_offset = data_start + begin;
    auto ins = tensors_.emplace(name, std::move(info));
    spans.push_back({begin, end, &ins.first->first});
  }

  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const std::string* prev = nullptr;
  for (const Span& s : spans) {
    QUAROT_CHECK(s.begin >= covered, file, ": tensor '", *s.name, "' [", s.begin, ", ", s.end,
                 ") overlaps tensor '", (prev ? *prev : std::string()), "' (which ends at ",
                 covered, ")");
    QUAROT_CHECK(s.begin == covered, file, ": data bytes [", covered, ", ", s.begin,
                 ") before tensor '", *s.name, "' belong to no tensor");
    covered = s.end;
    prev = s.name;
  }
  QUAROT_CHECK(covered == data_size, file, ": data bytes [", covered, ", ", data_size, ") after ",
               (prev ? "tensor '" + *prev + "'" : std::string("the header")),
               " belong to no tensor");

  names_.reserve(tensors_.size());
  for (const auto& kv : tensors_) names_.push_back(kv.first);
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = tensors_.find(name);
  QUAROT_CHECK(it != tensors_.end(), path_.string(), ": no tensor named '", name, "'");
  return it->second;
}

const void* SafetensorsFile::data(const std::string& name) const {
  return map_->data() + info(name).file_offset;
}

std::vector<float> SafetensorsFile::read_float(const std::string& name) const {
  const TensorInfo& ti = info(name);
  std::vector<float> out(size_t(ti.numel()));
  convert_to_float(ti.dtype, map_->data() + ti.file_offset, out.size(), out.data());
  return out;
}

std::shared_ptr<const void> SafetensorsFile::keep_alive() const { return map_; }

uint64_t SafetensorsFile::file_size() const { return map_->size(); }

}  // namespace quarot
