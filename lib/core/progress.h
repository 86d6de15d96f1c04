// Progress with ETA on stderr. On a terminal the line redraws in place; in a
// pipe or CI log it prints a plain line at most every few seconds, so logs stay
// readable. Quiet mode prints nothing (the --json and --quiet paths).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace quarot {

class Progress {
 public:
  Progress(std::string label, int64_t total, bool enabled = true);
  ~Progress();
  void update(int64_t done, const std::string& detail = "");
  void finish(const std::string& detail = "");
  double elapsed_seconds() const;

  // Global switch for --quiet / --json front ends.
  static void set_enabled(bool on);

 private:
  std::string label_;
  int64_t total_;
  bool enabled_;
  bool tty_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_print_;
};

std::string format_duration(double seconds);

double seconds_since(std::chrono::steady_clock::time_point start);

// Informational line on stderr (suppressed in quiet mode).
void log_info(const std::string& msg);
void log_warn(const std::string& msg);

}  // namespace quarot
