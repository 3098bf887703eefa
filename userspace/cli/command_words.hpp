#pragma once
/// @file
/// @brief Finding the command word among the arguments, and "did you mean" for a word that
/// names no command.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace podpath::cli {

/// @brief The word the user meant as the command: the first argument that is neither an
/// option nor the value of --log-level (the one global option that takes a separate value).
std::optional<std::string> command_word(const std::vector<std::string>& args);

/// @brief Edits (insert, delete, replace) between two short words.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// @brief "podpath: unknown command 'trcae' (did you mean 'trace'?); the commands are: ..."
/// and a second line pointing at --help; a suggestion only within two edits.
std::string unknown_command_message(const std::string& word, const std::vector<std::string>& commands);

}  // namespace podpath::cli
