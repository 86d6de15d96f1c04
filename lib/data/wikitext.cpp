#include "lib/data/wikitext.h"

#include "lib/core/error.h"
#include "lib/core/files.h"

namespace fs = std::filesystem;

namespace quarot {

std::string wikitext_joined(const fs::path& raw) {
  const std::string text = read_text_file(raw);
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string::npos ? text.size() : nl + 1;
    if (!first) out += "\n\n";
    first = false;
    // A row of one space and a newline is how the dataset stores an empty line.
    if (!(end - pos == 2 && text[pos] == ' ' && text[pos + 1] == '\n')) out.append(text, pos, end - pos);
    pos = end;
  }
  return out;
}

fs::path wikitext_file(const fs::path& data, const std::string& split) {
  QUAROT_CHECK(fs::exists(data), "--data ", data.string(), ": no such file or directory");
  if (fs::is_directory(data)) {
    fs::path f = data / ("wiki." + split + ".raw");
    QUAROT_CHECK(fs::exists(f), "--data ", data.string(), ": has no wiki.", split, ".raw");
    return f;
  }
  return data;
}

}  // namespace quarot
