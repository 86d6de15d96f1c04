#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace quarot {
// Registers `quarot-eval ppl` on `app`; the returned callback runs it.
std::function<int()> add_ppl_command(CLI::App& app);
}  // namespace quarot
