// Whole-file reads and atomic writes. Nothing a stage writes is ever seen half
// done: files and directories are written under a temporary name in the same
// directory and renamed into place at the end.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace quarot {

std::string read_text_file(const std::filesystem::path& path);

// Removes a file or a directory tree (nothing if absent). Written on POSIX calls:
// the pip build of LibTorch exports its own std::filesystem::remove_all, which the
// dynamic linker binds our calls to, and which crashes (seen with 2.11 on the GPU machine).
void remove_tree(const std::filesystem::path& path);

// Writes `content` to a temporary sibling of `path`, fsyncs it, renames it over `path`.
void write_file_atomic(const std::filesystem::path& path, const std::string& content);

// Creates a fresh temporary sibling directory of `out`, lets `fill` write into it,
// then renames it to `out`. Refuses when `out` exists unless `overwrite`, and
// refuses `out` equal to, or inside, any path in `inputs` (a stage never overwrites
// its input). On an exception the temporary directory is removed and `out` is untouched.
void write_dir_atomic(const std::filesystem::path& out, bool overwrite,
                      const std::function<void(const std::filesystem::path& tmp)>& fill,
                      const std::filesystem::path& input = {});

}  // namespace quarot
