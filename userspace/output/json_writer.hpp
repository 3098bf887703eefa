#pragma once
/// @file
/// @brief JSON text written straight into a string, without building a document: for what is
/// serialised often (every changed conversation of an agent, every refresh).
///
/// The text is what json_text() (nlohmann::json::dump(), invalid UTF-8 replaced) writes for the
/// same document: compact, the same escapes, the same number formatting. Members come out in the order they
/// are written, and nlohmann orders an object's members by key, so writers that write them sorted by key
/// produce byte for byte the text of the document (tests/unit/json_writer_test.cpp).

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace podpath::output {

class JsonWriter {
 public:
  /// @brief Appends to `out`.
  explicit JsonWriter(std::string& out) : out_(out) {}

  /// @brief The next member's key; the value follows.
  JsonWriter& key(std::string_view k);
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();

  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b);
  JsonWriter& value(std::nullptr_t);
  /// @brief Shortest text that reads back as the same double, as nlohmann writes it ("0.0",
  /// "12.5", "1e+21"); null when not finite.
  JsonWriter& value(double d);
  template <std::integral T>
  requires(!std::same_as<T, bool>) JsonWriter& value(T n) {
    if constexpr (std::signed_integral<T>) {
      return integer(static_cast<std::int64_t>(n));
    } else {
      return integer(static_cast<std::uint64_t>(n));
    }
  }
  /// @brief A document, dumped as json_text() does.
  JsonWriter& document(const nlohmann::json& j);
  /// @brief The string, or null when it is empty.
  JsonWriter& string_or_null(std::string_view s) { return s.empty() ? value(nullptr) : value(s); }

 private:
  void separate();
  void quoted(std::string_view s);
  JsonWriter& integer(std::int64_t n);
  JsonWriter& integer(std::uint64_t n);

  std::string& out_;
  bool first_ = true;       // nothing written yet in the current object or array
  bool after_key_ = false;  // a key was written: its value needs no separator
};

}  // namespace podpath::output
