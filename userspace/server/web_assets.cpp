#include "server/web_assets.hpp"

namespace podpath::server {

// Defined in the generated web_assets_data.cpp.
extern const EmbeddedFile k_embedded_files[];
extern const std::size_t k_embedded_file_count;

namespace {

const char* content_type(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace

std::optional<WebAsset> web_asset(std::string_view path) {
  if (path == "/" || path == "/index.html") path = "/index.html";
  if (!path.starts_with('/')) return std::nullopt;
  path.remove_prefix(1);
  for (std::size_t i = 0; i < k_embedded_file_count; ++i) {
    const EmbeddedFile& f = k_embedded_files[i];
    if (path == f.name) {
      return WebAsset{std::string_view(reinterpret_cast<const char*>(f.data), f.size), content_type(f.name)};
    }
  }
  return std::nullopt;
}

}  // namespace podpath::server
