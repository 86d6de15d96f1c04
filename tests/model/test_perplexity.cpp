// Perplexity on a prefix of WikiText-2 test against transformers' per-window NLLs
// (tests/golden/ppl.json), through the same tokenizer and protocol the CLI uses.
#include <ATen/ATen.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "lib/data/wikitext.h"
#include "lib/eval/perplexity.h"
#include "lib/model/llama.h"
#include "lib/tokenizer/tokenizer.h"

// Last: ATen defines its own CHECK, which must not replace Catch2's.
#include <catch2/catch.hpp>

using namespace quarot;

TEST_CASE("perplexity prefix matches transformers", "[model][ppl]") {
  const std::string src = QUAROT_SOURCE_DIR;
  std::ifstream in(src + "/tests/golden/ppl.json");
  const auto golden = nlohmann::json::parse(in);
  const std::string text = wikitext_joined(src + "/tests/data/wikitext-2-raw/wiki.test.raw");
  for (const char* name : {"stories260K", "tinystories-656k"}) {
    DYNAMIC_SECTION(name) {
      const std::string dir = src + "/tests/data/models/" + name;
      const auto& g = golden.at(name);
      const std::vector<double> ref = g.at("window_nll_fp32").get<std::vector<double>>();
      LlamaModel m = load_llama(dir, at::kFloat, at::kCPU);
      std::vector<int32_t> ids = Tokenizer::load(dir + "/tokenizer.json").encode(text);
      PerplexityOptions opt;
      opt.seqlen = g.at("seqlen").get<int64_t>();
      opt.limit_windows = 6;
      opt.batch = 3;
      opt.progress = false;
      ForwardHooks none;
      PerplexityResult r = perplexity(m, ids, opt, none);
      REQUIRE(r.windows == 6);
      REQUIRE(r.tokens == 6 * opt.seqlen);
      double mean = 0;
      for (int w = 0; w < 6; ++w) {
        CHECK(r.window_nll[w] == Approx(ref[w]).epsilon(1e-5));
        mean += ref[w] / 6;
      }
      CHECK(r.ppl == Approx(std::exp(mean)).epsilon(1e-5));
    }
  }
}

TEST_CASE("window count follows the protocol", "[ppl]") {
  PerplexityOptions opt;
  opt.seqlen = 512;
  CHECK(count_windows(1023, opt) == 1);  // the tail is dropped
  CHECK(count_windows(1024, opt) == 2);
  opt.limit_windows = 1;
  CHECK(count_windows(4096, opt) == 1);
  opt.seqlen = 1;
  CHECK_THROWS_WITH(count_windows(10, opt), Catch::Contains("--seqlen"));
}
