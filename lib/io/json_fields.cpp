#include "lib/io/json_fields.h"

#include <cmath>

#include "lib/core/error.h"

namespace quarot {

JsonFields::JsonFields(const nlohmann::json& obj, std::string source, std::string prefix)
    : obj_(obj), source_(std::move(source)), prefix_(std::move(prefix)) {
  QUAROT_CHECK(obj_.is_object(), source_, ": ",
               prefix_.empty() ? std::string("top level") : "field '" + prefix_ + "'", " is a ",
               obj_.type_name(), ", not an object");
}

bool JsonFields::has(const char* key) const {
  auto it = obj_.find(key);
  return it != obj_.end() && !it->is_null();
}

std::string JsonFields::where(const char* key) const {
  return source_ + ": field '" + (prefix_.empty() ? "" : prefix_ + ".") + key + "'";
}

const nlohmann::json& JsonFields::at(const char* key) const {
  QUAROT_CHECK(has(key), where(key), " is missing");
  return *obj_.find(key);
}

int64_t JsonFields::integer(const char* key) const {
  const auto& v = at(key);
  QUAROT_CHECK(v.is_number_integer() &&
                   (!v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t(INT64_MAX)),
               where(key), " is ", v.dump(), ", not an integer");
  return v.get<int64_t>();
}

int64_t JsonFields::integer(const char* key, int64_t fallback) const {
  return has(key) ? integer(key) : fallback;
}

double JsonFields::number(const char* key) const {
  const auto& v = at(key);
  QUAROT_CHECK(v.is_number(), where(key), " is ", v.dump(), ", not a number");
  const double d = v.get<double>();
  QUAROT_CHECK(std::isfinite(d), where(key), " is not finite");
  return d;
}

double JsonFields::number(const char* key, double fallback) const {
  return has(key) ? number(key) : fallback;
}

bool JsonFields::boolean(const char* key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = at(key);
  QUAROT_CHECK(v.is_boolean(), where(key), " is ", v.dump(), ", not true or false");
  return v.get<bool>();
}

std::string JsonFields::string(const char* key) const {
  const auto& v = at(key);
  QUAROT_CHECK(v.is_string(), where(key), " is ", v.dump(), ", not a string");
  return v.get<std::string>();
}

std::string JsonFields::string(const char* key, const std::string& fallback) const {
  return has(key) ? string(key) : fallback;
}

}  // namespace quarot
