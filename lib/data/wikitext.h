// The WikiText-2 evaluation text, exactly as the QuaRot/GPTQ protocol builds it
// from the Hugging Face dataset: the rows joined with "\n\n", where the rows are
// the lines of the .raw file (each keeping its "\n") and a line that is exactly
// " \n" is the empty row.
#pragma once

#include <filesystem>
#include <string>

namespace quarot {

// `raw` is a wiki.{train,valid,test}.raw file.
std::string wikitext_joined(const std::filesystem::path& raw);

// Resolves --data for --dataset wikitext2: a directory holding wiki.<split>.raw, or the file itself.
std::filesystem::path wikitext_file(const std::filesystem::path& data, const std::string& split);

}  // namespace quarot
