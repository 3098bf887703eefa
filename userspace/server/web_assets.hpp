#pragma once
/// @file
/// @brief The web map's files (web/: index.html, map.js, map.css), embedded in the binary at
/// build time (cmake/EmbedFiles.cmake), and the headers they are served with. The agent and
/// `podpath trace --web` serve them at / (docs/web.md); the page is a client of the public
/// API (/v1/nodes, /v1/flows/stream, /v1/drops) and loads nothing from elsewhere.

#include <cstddef>
#include <optional>
#include <string_view>

namespace podpath::server {

/// @brief One embedded file, as the generated table holds it.
struct EmbeddedFile {
  const char* name;  ///< path relative to web/ ("index.html")
  const unsigned char* data;
  std::size_t size;
};

/// @brief A file to serve.
struct WebAsset {
  std::string_view body;
  const char* content_type;
};

/// @brief The file served at `path` ("/" is index.html), or nullopt.
std::optional<WebAsset> web_asset(std::string_view path);

/// @brief The pattern of the paths web_asset() may serve (a cpp-httplib route).
inline constexpr const char* kWebAssetRoute = R"(/|/[a-z_-]+\.(html|js|css))";

/// @brief The Content-Security-Policy of the page: its own scripts, styles and API only;
/// no inline script, no other origin, no framing.
inline constexpr const char* kWebContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace podpath::server
