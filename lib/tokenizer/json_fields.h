// Reading tokenizer.json fields with errors that name the file and the field path
// (for example `pre_tokenizer.pretokenizers[0].pattern.Regex`).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace quarot::tok {

using json = nlohmann::json;

// A JSON value together with where it sits, for error messages.
class Field {
 public:
  Field(const json& value, std::string file, std::string path)
      : value_(&value), file_(std::move(file)), path_(std::move(path)) {}

  const json& value() const { return *value_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }
  bool is_null() const { return value_->is_null(); }

  // Member `key`; refused when missing (or null, unless it may be null).
  Field at(const std::string& key) const;
  // Member `key`, or nullopt when absent or null.
  std::optional<Field> find(const std::string& key) const;
  Field at(size_t index) const;
  size_t size() const;  // of an array

  std::string str() const;
  bool boolean() const;
  int64_t integer() const;
  std::string str_or(const std::string& key, const std::string& fallback) const;
  bool bool_or(const std::string& key, bool fallback) const;

  void expect_array() const;
  void expect_object() const;

  // "tokenizer.json at <file>: field '<path>'"
  std::string where() const;
  // Refuses the value: "<where> = <value>: <what>".
  [[noreturn]] void unsupported(const std::string& what) const;
  [[noreturn]] void fail(const std::string& what) const;

 private:
  const json* value_;
  std::string file_;
  std::string path_;
};

}  // namespace quarot::tok
