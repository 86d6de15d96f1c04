// SHA-256, for calibration-set digests in manifests and golden-id checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace quarot {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t len);
  std::string hex_digest();  // finalises; the object is spent afterwards

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(const void* data, size_t len);
std::string sha256_file(const std::string& path);

}  // namespace quarot
