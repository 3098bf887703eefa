#pragma once
/// @file
/// @brief JSON text written straight into a string, without building a document: for what is
/// serialised often (every changed conversation of an agent, every refresh).
///
/// The text is what json_text() (nlohmann::json::dump(), invalid UTF-8 replaced) writes for the
/// same document: compact, or indented as dump(indent) indents, the same escapes, the same
/// number formatting. Members come out in the order they
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
  /// @brief Appends to `out`; `indent` >= 0: one member or element per line, nested this many
  /// spaces deeper per level (as nlohmann::json::dump(indent)).
  explicit JsonWriter(std::string& out, int indent = -1) : out_(out), indent_(indent) {}

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
  /// @brief A document, dumped as json_text() does (indented to its place).
  JsonWriter& document(const nlohmann::json& j);
  /// @brief The string, or null when it is empty.
  JsonWriter& string_or_null(std::string_view s) { return s.empty() ? value(nullptr) : value(s); }

 private:
  void separate();
  void newline();
  void quoted(std::string_view s);
  void open(char bracket);
  void close(char bracket);
  /// std::int64_t or std::uint64_t (instantiated in the .cpp).
  template <typename Integer> JsonWriter& integer(Integer n);

  std::string& out_;
  int indent_ = -1;
  int depth_ = 0;           // containers open
  bool first_ = true;       // nothing written yet in the current object or array
  bool after_key_ = false;  // a key was written: its value needs no separator
};

}  // namespace podpath::output
