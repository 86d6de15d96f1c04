// A read-only memory map of a whole file. Tensors are served straight from the
// map, so opening a multi-GB checkpoint costs no reads up front and no copies.
// The map stays valid while any shared_ptr to it lives; a file truncated by
// another process while mapped can still fault (SIGBUS), which no reader of a
// mapped file can prevent.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>

namespace quarot {

class MappedFile {
 public:
  // Throws quarot::Error naming `path` when it cannot be opened or mapped.
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile() = default;
  std::filesystem::path path_;
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace quarot
