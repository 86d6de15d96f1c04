#include <catch2/catch.hpp>

#include "lib/core/error.h"
#include "quantize/pack.h"
#include "tests/quantize/test_rand.h"

using namespace quarot;

TEST_CASE("INT4 packing: nibble order and two's complement", "[pack]") {
  at::Tensor c = at::tensor({1, -1, -8, 7, 0, -3}, at::kChar).reshape({1, 6});
  at::Tensor p = pack_int4(c);
  REQUIRE(p.scalar_type() == at::kByte);
  REQUIRE(p.sizes() == at::IntArrayRef({1, 3}));
  REQUIRE(p[0][0].item<int>() == 0xF1);  // low nibble 1, high nibble -1
  REQUIRE(p[0][1].item<int>() == 0x78);  // low -8 = 0x8, high 7
  REQUIRE(p[0][2].item<int>() == 0xD0);  // low 0, high -3 = 0xD
  REQUIRE(at::equal(unpack_int4(p), c));
}

TEST_CASE("INT4 packing round trips all 16 values in both nibbles", "[pack]") {
  // Every (low, high) pair: 256 bytes, each value in each position.
  at::Tensor v = at::arange(-8, 8, at::kLong);
  at::Tensor lo = v.repeat_interleave(16), hi = v.repeat({16});
  at::Tensor c = at::stack({lo, hi}, 1).reshape({16, 32}).to(at::kChar);
  at::Tensor p = pack_int4(c);
  REQUIRE(at::equal(std::get<0>(at::sort(p.reshape(-1).to(at::kInt))), at::arange(256, at::kInt)));
  REQUIRE(at::equal(unpack_int4(p), c));
  at::Tensor u = (c.to(at::kInt) + 8).to(at::kByte);  // unsigned codes 0..15
  at::Tensor pu = pack_int4(u);
  REQUIRE(at::equal(unpack_int4(pu, /*is_signed=*/false), u));
  // The same bits either way: signed codes are the unsigned ones minus 16 above 7.
  REQUIRE(at::equal(unpack_int4(pu, true).to(at::kInt),
                    at::where(u.to(at::kInt) >= 8, u.to(at::kInt) - 16, u.to(at::kInt))));
}

TEST_CASE("INT4 packing round trips random matrices", "[pack]") {
  at::Tensor c = quarot_test::randint({37, 64}, -8, 7, 21).to(at::kChar);
  at::Tensor p = pack_int4(c);
  REQUIRE(p.sizes() == at::IntArrayRef({37, 32}));
  REQUIRE(at::equal(unpack_int4(p), c));
  at::Tensor c3 = quarot_test::randint({2, 3, 10}, -8, 7, 22).to(at::kChar);
  REQUIRE(at::equal(unpack_int4(pack_int4(c3)), c3));
  // A non-contiguous view packs like its contiguous copy.
  at::Tensor t = c.narrow(1, 8, 32);
  REQUIRE(!t.is_contiguous());
  REQUIRE(at::equal(pack_int4(t), pack_int4(t.contiguous())));
}

TEST_CASE("INT4 packing rejects what does not fit", "[pack]") {
  REQUIRE_THROWS_AS(pack_int4(at::zeros({2, 3}, at::kChar)), quarot::Error);
  REQUIRE_THROWS_AS(pack_int4(at::full({2, 4}, 8, at::kChar)), quarot::Error);
  REQUIRE_THROWS_AS(pack_int4(at::full({2, 4}, -9, at::kChar)), quarot::Error);
  REQUIRE_THROWS_AS(pack_int4(at::full({2, 4}, 16, at::kByte)), quarot::Error);
  REQUIRE_THROWS_AS(pack_int4(at::zeros({2, 4}, at::kFloat)), quarot::Error);
  REQUIRE_THROWS_AS(unpack_int4(at::zeros({2, 4}, at::kChar)), quarot::Error);
}
