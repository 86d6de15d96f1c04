// One test per way a safetensors file can be broken. Each crafts the bytes by
// hand and checks that the error names the file and the tensor or field.
#include <catch2/catch.hpp>
#include <random>

#include "io_test_util.h"
#include "lib/core/error.h"
#include "lib/io/safetensors.h"

using namespace quarot;
using namespace quarot_test;
using Catch::Contains;

namespace {

const char* kName = "model.layers.0.mlp.up_proj.weight";

// Writes a file named bad.safetensors and returns its path.
std::string craft(const TempDir& tmp, const std::string& bytes) {
  const auto p = tmp / "bad.safetensors";
  write_bytes(p, bytes);
  return p.string();
}

std::string entry(const std::string& name, const std::string& body) {
  return "\"" + name + "\":{" + body + "}";
}

// A file with one header (as given) and `data_size` bytes of data.
std::string file_with(const std::string& header, size_t data_size) {
  return safetensors_bytes(header, std::string(data_size, '\x01'));
}

}  // namespace

TEST_CASE("bad safetensors: file shorter than 8 bytes", "[safetensors][bad]") {
  TempDir tmp;
  auto p = craft(tmp, "");
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains("0 bytes"));
  p = craft(tmp, "abcde");
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains("shorter than"));
}

TEST_CASE("bad safetensors: missing file", "[safetensors][bad]") {
  TempDir tmp;
  CHECK_THROWS_WITH(SafetensorsFile(tmp / "nope.safetensors"), Contains("nope.safetensors"));
}

TEST_CASE("bad safetensors: header length past the end of the file", "[safetensors][bad]") {
  TempDir tmp;
  auto p = craft(tmp, le64(100) + "{}");
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains("header length 100") &&
                                             Contains("past the end"));
  p = craft(tmp, le64(~uint64_t(0)) + "{}");  // would overflow 8 + n
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains("header length"));
  p = craft(tmp, le64(200'000'000) + "{}");
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains("100 MB"));
}

TEST_CASE("bad safetensors: malformed JSON header", "[safetensors][bad]") {
  TempDir tmp;
  auto p = craft(tmp, file_with("{\"" + std::string(kName) + "\":{\"dtype\":", 0));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains("malformed JSON"));
  p = craft(tmp, file_with(std::string("{}\0\0\0\0\0\0", 8), 0));  // NUL padding is not whitespace
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains("malformed JSON"));
  p = craft(tmp, file_with("{\"a\":\"\xff\xfe\"}", 0));  // invalid UTF-8
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains("malformed JSON"));
}

TEST_CASE("bad safetensors: header is not an object", "[safetensors][bad]") {
  TempDir tmp;
  auto p = craft(tmp, file_with("[1, 2]  ", 0));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains("not an object"));
}

TEST_CASE("bad safetensors: entry is not an object", "[safetensors][bad]") {
  TempDir tmp;
  auto p = craft(tmp, file_with("{\"" + std::string(kName) + "\":[1]}", 0));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                             Contains("not an object"));
}

TEST_CASE("bad safetensors: entry missing dtype, shape or data_offsets", "[safetensors][bad]") {
  TempDir tmp;
  auto p = craft(tmp, file_with("{" + entry(kName, "\"shape\":[2],\"data_offsets\":[0,8]") + "}", 8));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                             Contains("missing field 'dtype'"));
  p = craft(tmp, file_with("{" + entry(kName, "\"dtype\":\"F32\",\"data_offsets\":[0,8]") + "}", 8));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                             Contains("missing field 'shape'"));
  p = craft(tmp, file_with("{" + entry(kName, "\"dtype\":\"F32\",\"shape\":[2]") + "}", 8));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                             Contains("missing field 'data_offsets'"));
}

TEST_CASE("bad safetensors: unknown or non-string dtype", "[safetensors][bad]") {
  TempDir tmp;
  auto p = craft(tmp, file_with("{" + entry(kName, "\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]") + "}", 2));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                             Contains("F8_E4M3"));
  p = craft(tmp, file_with("{" + entry(kName, "\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]") + "}", 8));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                             Contains("'dtype'"));
}

TEST_CASE("bad safetensors: negative or non-integer shape", "[safetensors][bad]") {
  TempDir tmp;
  for (const char* shape : {"[-2]", "[2.5]", "[\"2\"]", "2", "[9223372036854775808]"}) {
    INFO(shape);
    auto p = craft(tmp, file_with("{" + entry(kName, std::string("\"dtype\":\"F32\",\"shape\":") + shape +
                                                         ",\"data_offsets\":[0,8]") + "}", 8));
    CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                               Contains("'shape'"));
  }
}

TEST_CASE("bad safetensors: shape whose byte size overflows", "[safetensors][bad]") {
  TempDir tmp;
  auto p = craft(tmp, file_with("{" + entry(kName, "\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],"
                                                    "\"data_offsets\":[0,8]") + "}", 8));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                             Contains("overflows"));
  // Wraps to exactly 0 bytes modulo 2^64: must still be refused.
  p = craft(tmp, file_with("{" + entry(kName, "\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
                                               "\"data_offsets\":[0,0]") + "}", 0));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                             Contains("overflows"));
}

TEST_CASE("bad safetensors: shape times itemsize differs from the byte span", "[safetensors][bad]") {
  TempDir tmp;
  auto p = craft(tmp, file_with("{" + entry(kName, "\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,8]") + "}", 8));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                             Contains("needs 12 bytes") && Contains("span 8"));
}

TEST_CASE("bad safetensors: data_offsets malformed, reversed or out of range", "[safetensors][bad]") {
  TempDir tmp;
  for (const char* off : {"[0]", "[0,8,9]", "[-1,7]", "[0.0,8]", "\"0,8\""}) {
    INFO(off);
    auto p = craft(tmp, file_with("{" + entry(kName, std::string("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":") + off) + "}", 8));
    CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                               Contains("data_offsets"));
  }
  auto p = craft(tmp, file_with("{" + entry(kName, "\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]") + "}", 8));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                             Contains("end before"));
  p = craft(tmp, file_with("{" + entry(kName, "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]") + "}", 8));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                             Contains("past the data region"));
  p = craft(tmp, file_with("{" + entry(kName, "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":"
                                               "[18446744073709551615,18446744073709551615]") + "}", 8));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName));
}

TEST_CASE("bad safetensors: overlapping tensors", "[safetensors][bad]") {
  TempDir tmp;
  auto p = craft(tmp, file_with("{" + entry("model.a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]") + "," +
                                    entry(kName, "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]") + "}", 12));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                             Contains("model.a") && Contains("overlaps"));
  // The same bytes claimed twice.
  p = craft(tmp, file_with("{" + entry("model.a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]") + "," +
                               entry(kName, "\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]") + "}", 8));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains("overlaps"));
}

TEST_CASE("bad safetensors: data region not fully covered is refused", "[safetensors][bad]") {
  TempDir tmp;
  // A gap before the second tensor.
  auto p = craft(tmp, file_with("{" + entry("model.a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") + "," +
                                    entry(kName, "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]") + "}", 12));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                             Contains("[4, 8)") && Contains("no tensor"));
  // Trailing bytes after the last tensor.
  p = craft(tmp, file_with("{" + entry(kName, "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") + "}", 10));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                             Contains("[4, 10)") && Contains("no tensor"));
  // A file with no tensors but some data.
  p = craft(tmp, file_with("{}", 3));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains("no tensor"));
}

TEST_CASE("bad safetensors: __metadata__ with non-string values", "[safetensors][bad]") {
  TempDir tmp;
  auto p = craft(tmp, file_with("{\"__metadata__\":{\"format\":\"pt\",\"step\":3}}", 0));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains("__metadata__") &&
                                             Contains("'step'") && Contains("must be strings"));
  p = craft(tmp, file_with("{\"__metadata__\":[\"format\"]}", 0));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains("__metadata__") &&
                                             Contains("not an object"));
}

TEST_CASE("bad safetensors: the same tensor twice in the header", "[safetensors][bad]") {
  TempDir tmp;
  auto p = craft(tmp, file_with("{" + entry(kName, "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") + "," +
                                    entry(kName, "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]") + "}", 8));
  CHECK_THROWS_WITH(SafetensorsFile(p), Contains("bad.safetensors") && Contains(kName) &&
                                             Contains("twice"));
}

TEST_CASE("good safetensors: minimal hand-made files are accepted", "[safetensors]") {
  TempDir tmp;
  // Empty header, no data; spaces after the JSON; unknown entry fields ignored.
  SafetensorsFile a(craft(tmp, file_with("{}      ", 0)));
  CHECK(a.names().empty());
  SafetensorsFile b(craft(tmp, file_with("{" + entry(kName, "\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3],\"x\":1") + "}", 3)));
  CHECK(b.info(kName).nbytes == 3);
  CHECK(b.info(kName).file_offset == 8 + b.file_size() - 8 - 3);
}

TEST_CASE("bad safetensors: random corruption never escapes as anything but quarot::Error",
          "[safetensors][bad]") {
  TempDir tmp;
  const std::string good = read_bytes(source_path("tests/data/models/stories260K/model.safetensors"));
  const std::string head = good.substr(0, 8 + 4856);
  std::mt19937_64 rng(3);
  int opened = 0, refused = 0;
  for (int i = 0; i < 1500; ++i) {
    std::string bytes = head;
    const int kind = i % 3;
    if (kind == 0) {  // flip a few header bytes
      for (int k = 0; k < 3; ++k) bytes[rng() % bytes.size()] = char(rng() & 0xff);
    } else if (kind == 1) {  // truncate
      bytes.resize(rng() % bytes.size());
    } else {  // swap in a digit inside the header (mangles shapes and offsets)
      bytes[8 + rng() % 4856] = char('0' + rng() % 10);
    }
    // Data: whatever the header claims, but only what the original had.
    bytes += good.substr(head.size(), rng() % 2 ? std::string::npos : good.size() / 2);
    const auto p = craft(tmp, bytes);
    try {
      SafetensorsFile f(p);
      for (const auto& n : f.names()) (void)f.read_float(n);
      ++opened;
    } catch (const Error& e) {
      REQUIRE(std::string(e.what()).find("bad.safetensors") != std::string::npos);
      ++refused;
    }
  }
  CHECK(refused > 1000);
  (void)opened;
}
