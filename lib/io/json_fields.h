// Typed access to the fields of a JSON object with errors that name the file
// and the field ("config.json: field 'rope_parameters.factor' ..."). A field
// whose value is null counts as absent, as it does for transformers' configs.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace quarot {

class JsonFields {
 public:
  // `obj` must outlive this object; `prefix` names the enclosing object ("rope_parameters").
  JsonFields(const nlohmann::json& obj, std::string source, std::string prefix = "");

  bool has(const char* key) const;
  const nlohmann::json& at(const char* key) const;  // required
  // "<source>: field '<prefix>.<key>'", the start of every message about it.
  std::string where(const char* key) const;

  int64_t integer(const char* key) const;
  int64_t integer(const char* key, int64_t fallback) const;
  double number(const char* key) const;  // integer or floating, finite
  double number(const char* key, double fallback) const;
  bool boolean(const char* key, bool fallback) const;
  std::string string(const char* key) const;
  std::string string(const char* key, const std::string& fallback) const;

 private:
  const nlohmann::json& obj_;
  std::string source_, prefix_;
};

}  // namespace quarot
