#pragma once
/// @file
/// @brief Text from outside podpath, made safe to show: names the kernel or an inventory
/// hands us (interface names, pod names, process names) are chosen by whoever controls
/// them — a pod with CAP_NET_ADMIN names the interfaces of its own namespace — and may hold
/// terminal escape sequences, control characters or bytes that are not UTF-8.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace podpath {

/// @brief `text` as a terminal may show it: valid, printable UTF-8 passes unchanged; every
/// control character (C0 such as ESC, CR or a newline, DEL, and C1), every Unicode
/// direction override, and every byte that is not part of valid UTF-8 becomes a visible
/// escape ("\x1b", "\u009b", "\u202e", "\xff"). No escape sequence survives, so a name can
/// neither restyle, move the cursor, retitle the terminal nor hide what follows it.
/// The one function every text renderer and log line passes outside names through.
std::string printable(std::string_view text);

/// @brief `j` serialised (indent as nlohmann's dump(); -1 = one line). Strings that are
/// not valid UTF-8 (a name from the kernel) get U+FFFD in place of the bad bytes instead of
/// aborting the output with an exception. Every JSON podpath prints or writes goes through
/// this.
std::string json_text(const nlohmann::json& j, int indent = -1);

}  // namespace podpath
