#include <iostream>
#include <string>
#include <vector>

#include "cli/app.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  podpath::cli::Io io{std::cout, std::cerr};
  return podpath::cli::run(args, io);
}
