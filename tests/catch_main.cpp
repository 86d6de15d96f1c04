#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "lib/core/progress.h"

int main(int argc, char* argv[]) {
  // Progress bars from the code under test would only clutter the test log.
  quarot::Progress::set_enabled(false);
  return Catch::Session().run(argc, argv);
}
