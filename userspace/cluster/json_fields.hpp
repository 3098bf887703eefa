#pragma once
/// @file
/// @brief Reading the agents' JSON leniently: a missing field or one of another type reads as
/// absent, never throws (an agent of another version may add, drop or retype fields).

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace podpath::cluster {

/// @brief `j[field]` if `j` is an object and the field a string, else "".
inline std::string str(const nlohmann::json& j, const char* field) {
  if (!j.is_object()) return {};
  const auto it = j.find(field);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// @brief `j[field]` if `j` is an object and the field a number, else nothing.
template <typename T> std::optional<T> num(const nlohmann::json& j, const char* field) {
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find(field);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<T>();
}

/// @brief `j[field]` if `j` is an object and the field a number, else `fallback`.
template <typename T> T num_or(const nlohmann::json& j, const char* field, T fallback = T{}) {
  return num<T>(j, field).value_or(fallback);
}

}  // namespace podpath::cluster
