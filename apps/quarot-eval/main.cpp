// quarot-eval: evaluate any quarot stage's output.
#include <CLI/CLI.hpp>

#include "apps/common/cli.h"
#include "apps/quarot-eval/ppl_command.h"
#include "apps/quarot-eval/stats_command.h"

int main(int argc, char** argv) {
  CLI::App app{"quarot-eval: evaluate Llama checkpoints before and after QuaRot stages"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "quarot-eval 0.1.0");
  auto ppl = quarot::add_ppl_command(app);
  auto stats = quarot::add_stats_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : quarot::kExitUsage;
  }
  return quarot::run_guarded("quarot-eval", [&] {
    if (app.got_subcommand("ppl")) return ppl();
    if (app.got_subcommand("stats")) return stats();
    return int(quarot::kExitUsage);
  });
}
