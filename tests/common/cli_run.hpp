#pragma once
// Runs the podpath command line in-process and captures its exit code and output.
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.hpp"

namespace podpath::testing {

struct CliOutcome {
  int code;
  std::string out;
  std::string err;
};

inline CliOutcome run_cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  podpath::cli::Io io{out, err};
  const int code = podpath::cli::run(args, io);
  return {code, out.str(), err.str()};
}

}  // namespace podpath::testing
