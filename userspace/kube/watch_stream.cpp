#include "kube/watch_stream.hpp"

#include <array>
#include <utility>

namespace podpath::kube {

std::string_view event_type_name(EventType type) {
  switch (type) {
  case EventType::Added:
    return "ADDED";
  case EventType::Modified:
    return "MODIFIED";
  case EventType::Deleted:
    return "DELETED";
  case EventType::Bookmark:
    return "BOOKMARK";
  case EventType::Error:
    return "ERROR";
  }
  return "?";
}

Result<WatchEvent> parse_watch_event(std::string_view line) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error& e) {
    return make_error(0, "watch event is not JSON (byte {})", e.byte);
  } catch (const nlohmann::json::exception& e) {
    return make_error(0, "watch event is not JSON: {}", e.what());
  }
  if (!doc.is_object()) return make_error(0, "watch event is not a JSON object");
  const auto type = doc.find("type");
  if (type == doc.end() || !type->is_string()) return make_error(0, "watch event has no type");
  static constexpr std::array kTypes = {EventType::Added, EventType::Modified, EventType::Deleted,
                                        EventType::Bookmark, EventType::Error};
  WatchEvent event;
  bool known = false;
  for (const auto t : kTypes) {
    if (event_type_name(t) == type->get_ref<const std::string&>()) {
      event.type = t;
      known = true;
    }
  }
  if (!known) return make_error(0, "watch event has an unknown type '{}'", type->get<std::string>());
  auto object = doc.find("object");
  if (object == doc.end() || !object->is_object()) return make_error(0, "watch event has no object");
  event.object = std::move(*object);
  if (event.type == EventType::Error) {
    const auto code = event.object.find("code");
    if (code != event.object.end() && code->is_number_integer()) event.error_code = code->get<int>();
    const auto message = event.object.find("message");
    if (message != event.object.end() && message->is_string())
      event.error_message = message->get<std::string>();
    return event;
  }
  const auto meta = event.object.find("metadata");
  if (meta != event.object.end() && meta->is_object()) {
    const auto rv = meta->find("resourceVersion");
    if (rv != meta->end() && rv->is_string()) event.resource_version = rv->get<std::string>();
  }
  if (event.resource_version.empty()) {
    return make_error(0, "{} watch event has no metadata.resourceVersion", event_type_name(event.type));
  }
  return event;
}

Result<void> LineSplitter::feed(std::string_view chunk,
                                const std::function<bool(std::string_view)>& on_line) {
  while (!chunk.empty()) {
    const auto nl = chunk.find('\n');
    if (nl == std::string_view::npos) {
      if (buffer_.size() + chunk.size() > max_line_) {
        buffer_.clear();
        return make_error(0, "watch event longer than {} bytes", max_line_);
      }
      buffer_.append(chunk);
      return {};
    }
    std::string_view line = chunk.substr(0, nl);
    chunk.remove_prefix(nl + 1);
    if (!buffer_.empty()) {
      if (buffer_.size() + line.size() > max_line_) {
        buffer_.clear();
        return make_error(0, "watch event longer than {} bytes", max_line_);
      }
      buffer_.append(line);
      const std::string whole = std::exchange(buffer_, {});
      if (whole.find_first_not_of(" \t\r") != std::string::npos && !on_line(whole)) return {};
      continue;
    }
    if (line.size() > max_line_) return make_error(0, "watch event longer than {} bytes", max_line_);
    if (line.find_first_not_of(" \t\r") != std::string_view::npos && !on_line(line)) return {};
  }
  return {};
}

}  // namespace podpath::kube
