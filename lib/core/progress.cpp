#include "lib/core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace quarot {
namespace {
bool g_enabled = true;
}

void Progress::set_enabled(bool on) { g_enabled = on; }

std::string format_duration(double s) {
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, (int(s) / 60) % 60);
  return buf;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled && g_enabled),
      tty_(::isatty(2)), start_(std::chrono::steady_clock::now()), last_print_(start_) {}

Progress::~Progress() {
  if (!finished_ && enabled_ && tty_) std::fputc('\n', stderr);
}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(int64_t done, const std::string& detail) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_print_).count();
  // A terminal can take frequent redraws; a log gets a line every 5 s at most.
  if (done < total_ && since < (tty_ ? 0.2 : 5.0)) return;
  last_print_ = now;
  double el = elapsed_seconds();
  double frac = total_ > 0 ? double(done) / double(total_) : 1.0;
  std::string eta = frac > 0 && done < total_ ? format_duration(el / frac - el) : "-";
  std::fprintf(stderr, "%s%s %lld/%lld (%3.0f%%) elapsed %s eta %s%s%s%s", tty_ ? "\r\033[K" : "",
               label_.c_str(), (long long)done, (long long)total_, 100.0 * frac,
               format_duration(el).c_str(), eta.c_str(), detail.empty() ? "" : "  ",
               detail.c_str(), tty_ ? "" : "\n");
  std::fflush(stderr);
}

void Progress::finish(const std::string& detail) {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  std::fprintf(stderr, "%s%s done in %s%s%s\n", tty_ ? "\r\033[K" : "", label_.c_str(),
               format_duration(elapsed_seconds()).c_str(), detail.empty() ? "" : "  ",
               detail.c_str());
}

void log_info(const std::string& msg) {
  if (g_enabled) std::fprintf(stderr, "%s\n", msg.c_str());
}

void log_warn(const std::string& msg) { std::fprintf(stderr, "warning: %s\n", msg.c_str()); }

}  // namespace quarot
