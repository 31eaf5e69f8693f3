// parseJsonExact (engine/json_parse.hpp): numbers with a fraction or an
// exponent are read correctly rounded; everything else is read exactly as
// boost::json::parse reads it.
#include "engine/json_parse.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "test_util.hpp"

namespace {

// Random finite doubles: half uniform in a human range, half any bit pattern.
std::vector<double> randomDoubles(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> human(-1e6, 1e6);
  std::vector<double> out;
  while (out.size() < n) {
    double d = human(rng);
    if (out.size() % 2 == 1) d = std::bit_cast<double>(rng());
    if (std::isfinite(d)) out.push_back(d);
  }
  return out;
}

}  // namespace

TEST_CASE("json: a double in its shortest text form is read back bit for bit", "[json]") {
  std::size_t wrong = 0;
  std::string first_wrong;
  for (double d : randomDoubles(200'000, 0x6a50'0001)) {
    const std::string text = plasma_test::shortestDouble(d);
    const boost::json::value v = plasma::parseJsonExact(text);
    // Integral text ("123456") reads as an integer, exactly; the rest as a double.
    const double got = v.to_number<double>();
    if (std::bit_cast<std::uint64_t>(got) != std::bit_cast<std::uint64_t>(d)) {
      if (wrong++ == 0) first_wrong = text + " read as " + plasma_test::shortestDouble(got);
    }
  }
  INFO(first_wrong);
  CHECK(wrong == 0);
  // The case the sync fuzzer found: Boost.JSON 1.81 alone reads it one unit off.
  CHECK(plasma::parseJsonExact("-97570.19231092371").as_double() == -97570.19231092371);
  CHECK(plasma::parseJsonExact("[-1.0000000000000039E19]").as_array()[0].as_double() ==
        -1.0000000000000039E19);
}

TEST_CASE("json: values survive serialize and parse again unchanged", "[json]") {
  boost::json::array a;
  for (double d : randomDoubles(20'000, 0x6a50'0002)) a.push_back(d);
  a.push_back(0.1);
  a.push_back(-0.0);
  a.push_back(5e-324);
  a.push_back(1.7976931348623157e308);
  const boost::json::value original = boost::json::object{{"args", a}};
  boost::json::value v = original;
  for (int trip = 0; trip < 3; ++trip) v = plasma::parseJsonExact(boost::json::serialize(v));
  CHECK(v == original);
  CHECK(std::signbit(v.at("args").as_array()[20'001].as_double()));  // -0.0 stays negative
}

TEST_CASE("json: everything but fractional numbers reads as boost::json::parse reads it", "[json]") {
  const std::vector<std::string> texts = {
      R"({"profileID":"p","mutations":[{"id":1,"args":{"title":"milk","done":false,"n":null}}]})",
      R"([9223372036854775807, -9223372036854775808, 18446744073709551615, 0, -0, 1e2, 1E-2, 2.5])",
      R"("escapes \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00")",
      "  {\"a\" : [ [], {}, \"\", true ] }  ",
      R"(1e999)",  // out of range: infinity, as Boost reads it (callers refuse it)
      R"({"a":1,"a":2})",
  };
  for (const auto& text : texts) {
    INFO(text);
    boost::system::error_code ec1, ec2;
    const boost::json::value mine = plasma::parseJsonExact(text, ec1);
    const boost::json::value theirs = boost::json::parse(text, ec2);
    CHECK(ec1 == ec2);
    CHECK(mine == theirs);
  }
}

TEST_CASE("json: malformed text is refused with Boost's error, and the throwing form throws", "[json]") {
  const std::vector<std::string> bad = {"",      "{",       "[1,]", "{\"a\" 1}", "tru", "1 2",
                                        "[1] x", "\"\\x\"", "01",   "-",         "1.e5"};
  for (const auto& text : bad) {
    INFO(text);
    boost::system::error_code ec1, ec2;
    (void)plasma::parseJsonExact(text, ec1);
    (void)boost::json::parse(text, ec2);
    CHECK(ec1);
    CHECK(ec1 == ec2);
    CHECK_THROWS_AS(plasma::parseJsonExact(text), boost::system::system_error);
  }
  // Options apply: nesting deeper than max_depth is refused.
  boost::json::parse_options shallow;
  shallow.max_depth = 3;
  boost::system::error_code ec;
  (void)plasma::parseJsonExact("[[[[1]]]]", ec, {}, shallow);
  CHECK(ec == boost::json::error::too_deep);
  ec = {};
  CHECK(plasma::parseJsonExact("[[[1]]]", ec, {}, shallow).is_array());
  CHECK_FALSE(ec);
}

TEST_CASE("json: the value lives in the storage it is given", "[json]") {
  const boost::json::storage_ptr arena = boost::json::make_shared_resource<boost::json::monotonic_resource>();
  const boost::json::value v = plasma::parseJsonExact(R"({"a":[1.5,"x"]})", arena);
  CHECK(v.storage() == arena);
  CHECK(v.at("a").as_array().storage() == arena);
  CHECK(v.at("a").as_array()[0].as_double() == 1.5);
}
