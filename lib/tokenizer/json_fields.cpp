#include "lib/tokenizer/json_fields.h"

#include "lib/core/error.h"

namespace quarot::tok {
namespace {

std::string join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

std::string short_dump(const json& v) {
  std::string s = v.dump();
  if (s.size() > 200) s = s.substr(0, 200) + "...";
  return s;
}

}  // namespace

std::string Field::where() const {
  return "tokenizer file " + file_ + ": field '" + (path_.empty() ? std::string("<root>") : path_) + "'";
}

void Field::unsupported(const std::string& what) const {
  QUAROT_FAIL(where(), " = ", short_dump(*value_), ": ", what);
}

void Field::fail(const std::string& what) const { QUAROT_FAIL(where(), ": ", what); }

void Field::expect_object() const {
  if (!value_->is_object()) unsupported("expected a JSON object");
}

void Field::expect_array() const {
  if (!value_->is_array()) unsupported("expected a JSON array");
}

Field Field::at(const std::string& key) const {
  expect_object();
  auto it = value_->find(key);
  const std::string p = join(path_, key);
  QUAROT_CHECK(it != value_->end(), "tokenizer file ", file_, ": field '", p, "' is missing");
  return Field(*it, file_, p);
}

std::optional<Field> Field::find(const std::string& key) const {
  expect_object();
  auto it = value_->find(key);
  if (it == value_->end() || it->is_null()) return std::nullopt;
  return Field(*it, file_, join(path_, key));
}

Field Field::at(size_t index) const {
  expect_array();
  QUAROT_ASSERT(index < value_->size());
  return Field((*value_)[index], file_, path_ + "[" + std::to_string(index) + "]");
}

size_t Field::size() const {
  expect_array();
  return value_->size();
}

std::string Field::str() const {
  if (!value_->is_string()) unsupported("expected a string");
  return value_->get<std::string>();
}

bool Field::boolean() const {
  if (!value_->is_boolean()) unsupported("expected true or false");
  return value_->get<bool>();
}

int64_t Field::integer() const {
  if (!value_->is_number_integer()) unsupported("expected an integer");
  return value_->get<int64_t>();
}

std::string Field::str_or(const std::string& key, const std::string& fallback) const {
  auto f = find(key);
  return f ? f->str() : fallback;
}

bool Field::bool_or(const std::string& key, bool fallback) const {
  auto f = find(key);
  return f ? f->boolean() : fallback;
}

}  // namespace quarot::tok
