#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace quarot {
// Registers `quarot-eval stats` on `app`; the returned callback runs it.
std::function<int()> add_stats_command(CLI::App& app);
}  // namespace quarot
