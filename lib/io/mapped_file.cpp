#include "lib/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/core/error.h"

namespace quarot {

std::shared_ptr<const MappedFile> MappedFile::open(const std::filesystem::path& path) {
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  QUAROT_CHECK(fd >= 0, path.string(), ": cannot open for reading: ", std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    QUAROT_FAIL(path.string(), ": not a regular file");
  }
  m->size_ = size_t(st.st_size);
  if (m->size_ > 0) {  // mmap refuses a zero length; an empty file maps to nothing
    void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd);
    QUAROT_CHECK(p != MAP_FAILED, path.string(), ": cannot memory-map: ", std::strerror(err));
    m->data_ = static_cast<const unsigned char*>(p);
  } else {
    ::close(fd);
  }
  return m;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
}

}  // namespace quarot
