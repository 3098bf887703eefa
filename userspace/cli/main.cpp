#include <string>
#include <vector>

#include "cli/app.hpp"

int main(int argc, char** argv) {
  return podpath::cli::run_main(std::vector<std::string>(argv + 1, argv + argc));
}
