#include "lib/io/atomic_output.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>
#include <vector>

#include "lib/core/error.h"

namespace fs = std::filesystem;

namespace quarot {

AtomicOutput::AtomicOutput(const fs::path& path) : path_(path) {
  std::random_device rd;
  std::ostringstream suffix;
  suffix << ".tmp-" << ::getpid() << "-" << std::hex << rd();
  tmp_ = path;
  tmp_ += suffix.str();
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  QUAROT_CHECK(fd_ >= 0, tmp_.string(), ": cannot create: ", std::strerror(errno));
}

AtomicOutput::~AtomicOutput() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) std::remove(tmp_.c_str());
}

void AtomicOutput::write(const void* data, size_t n) {
  QUAROT_ASSERT(fd_ >= 0 && !committed_, "write after commit");
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    QUAROT_CHECK(w > 0, path_.string(), ": write failed: ", std::strerror(errno), " (disk full?)");
    p += w;
    n -= size_t(w);
  }
}

void AtomicOutput::commit() {
  QUAROT_ASSERT(fd_ >= 0 && !committed_, "commit twice");
  QUAROT_CHECK(::fsync(fd_) == 0, path_.string(), ": fsync failed: ", std::strerror(errno));
  int rc = ::close(fd_);
  fd_ = -1;
  QUAROT_CHECK(rc == 0, path_.string(), ": close failed: ", std::strerror(errno));
  std::error_code ec;
  fs::rename(tmp_, path_, ec);
  QUAROT_CHECK(!ec, path_.string(), ": cannot rename temporary file into place: ", ec.message());
  committed_ = true;
}

void copy_file_atomic(const fs::path& from, const fs::path& to) {
  int fd = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  QUAROT_CHECK(fd >= 0, from.string(), ": cannot open for reading: ", std::strerror(errno));
  try {
    AtomicOutput out(to);
    std::vector<char> buf(1 << 20);
    for (;;) {
      ssize_t r = ::read(fd, buf.data(), buf.size());
      if (r < 0 && errno == EINTR) continue;
      QUAROT_CHECK(r >= 0, from.string(), ": read error: ", std::strerror(errno));
      if (r == 0) break;
      out.write(buf.data(), size_t(r));
    }
    out.commit();
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

}  // namespace quarot
