// A file written in pieces but published at once: bytes go to a temporary
// sibling, and commit() fsyncs and renames it over the target. Checkpoints are
// too large to assemble in memory first (lib/core/files.h takes a whole string),
// hence this streaming form. Destroying an uncommitted writer removes the
// temporary file, so an exception never leaves a half-written output behind.
#pragma once

#include <cstddef>
#include <filesystem>

namespace quarot {

class AtomicOutput {
 public:
  explicit AtomicOutput(const std::filesystem::path& path);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  void write(const void* data, size_t n);
  void commit();

 private:
  std::filesystem::path path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Copies `from` to `to` atomically (through AtomicOutput).
void copy_file_atomic(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace quarot
