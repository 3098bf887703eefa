#pragma once
/// @file
/// @brief The body of a watch: newline-delimited JSON events ({"type":..., "object":...}),
/// which arrive split at arbitrary byte boundaries.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/result.hpp"

namespace podpath::kube {

enum class EventType { Added, Modified, Deleted, Bookmark, Error };

/// @brief "ADDED", "MODIFIED", ...
std::string_view event_type_name(EventType type);

/// @brief One watch event.
struct WatchEvent {
  EventType type = EventType::Added;
  nlohmann::json object;         ///< the object (for ERROR: a v1 Status)
  std::string resource_version;  ///< object.metadata.resourceVersion; empty for ERROR
  int error_code = 0;            ///< ERROR: Status.code (410 = the resourceVersion is too old)
  std::string error_message;     ///< ERROR: Status.message
};

/// @brief Parses one line of a watch body. Errors say what is wrong ("watch event has no
/// type", "is not JSON (byte 12)").
Result<WatchEvent> parse_watch_event(std::string_view line);

/// @brief Reassembles lines from chunks. Blank lines (keep-alives) are skipped.
class LineSplitter {
 public:
  /// @brief A longer line is an error: a broken or hostile server must not exhaust memory.
  explicit LineSplitter(std::size_t max_line = std::size_t{64} << 20) : max_line_(max_line) {}

  /// @brief Appends `chunk` and calls `on_line` for each line it completes (without the
  /// newline); stops early when `on_line` returns false. Error when a line grows too long.
  Result<void> feed(std::string_view chunk, const std::function<bool(std::string_view)>& on_line);
  /// @brief Bytes of an unfinished line (a body that ends here was cut short).
  [[nodiscard]] std::size_t pending() const { return buffer_.size(); }

 private:
  std::size_t max_line_;
  std::string buffer_;
};

}  // namespace podpath::kube
