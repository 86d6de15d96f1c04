#include "lib/core/files.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "lib/core/error.h"

namespace fs = std::filesystem;

namespace quarot {
namespace {
std::string temp_suffix() {
  std::random_device rd;
  std::ostringstream os;
  os << ".tmp-" << ::getpid() << "-" << std::hex << rd();
  return os.str();
}

bool is_within(const fs::path& inner, const fs::path& outer) {
  auto a = fs::weakly_canonical(inner), b = fs::weakly_canonical(outer);
  auto ai = a.begin(), bi = b.begin();
  for (; bi != b.end(); ++ai, ++bi)
    if (ai == a.end() || *ai != *bi) return false;
  return true;
}
}  // namespace

void remove_tree(const fs::path& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  auto remove_one = [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); };
  QUAROT_CHECK(::nftw(path.c_str(), remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0, path.string(), ": cannot remove");
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  QUAROT_CHECK(in, path.string(), ": cannot open for reading");
  std::ostringstream os;
  os << in.rdbuf();
  QUAROT_CHECK(!in.bad(), path.string(), ": read error");
  return os.str();
}

void write_file_atomic(const fs::path& path, const std::string& content) {
  fs::path tmp = path;
  tmp += temp_suffix();
  {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    QUAROT_CHECK(fd >= 0, tmp.string(), ": cannot create");
    size_t done = 0;
    while (done < content.size()) {
      ssize_t n = ::write(fd, content.data() + done, content.size() - done);
      if (n <= 0) {
        ::close(fd);
        std::remove(tmp.c_str());
        QUAROT_FAIL(tmp.string(), ": write failed (disk full?)");
      }
      done += size_t(n);
    }
    ::fsync(fd);
    ::close(fd);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    ::unlink(tmp.c_str());
    QUAROT_FAIL(path.string(), ": cannot rename temporary file into place: ", ec.message());
  }
}

void write_dir_atomic(const fs::path& out, bool overwrite,
                      const std::function<void(const fs::path&)>& fill, const fs::path& input) {
  QUAROT_CHECK(!out.empty(), "--out: no output directory given");
  if (!input.empty()) {
    QUAROT_CHECK(!is_within(out, input) && !is_within(input, out), "--out ", out.string(),
                 " overlaps the input ", input.string(), "; a stage never writes over its input");
  }
  if (fs::exists(out)) {
    QUAROT_CHECK(overwrite, "--out ", out.string(), " already exists (pass --overwrite to replace it)");
    QUAROT_CHECK(fs::is_directory(out), "--out ", out.string(), " exists and is not a directory");
  }
  fs::path parent = fs::absolute(out).parent_path();
  QUAROT_CHECK(fs::is_directory(parent), "--out ", out.string(), ": parent directory ",
               parent.string(), " does not exist");
  fs::path tmp = fs::absolute(out);
  tmp += temp_suffix();
  fs::create_directory(tmp);
  try {
    fill(tmp);
  } catch (...) {
    try {
      remove_tree(tmp);
    } catch (...) {
    }
    throw;
  }
  if (fs::exists(out)) {
    fs::path old = fs::absolute(out);
    old += temp_suffix() + ".old";
    fs::rename(out, old);
    fs::rename(tmp, out);
    remove_tree(old);
  } else {
    fs::rename(tmp, out);
  }
}

}  // namespace quarot
