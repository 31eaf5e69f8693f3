// engine/keys.hpp: the order-preserving key encoding of index keys. Property
// tests over thousands of random pairs (fixed seeds) compare memcmp order of
// the encodings with the order of the values, and decode round-trips.
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "engine/keys.hpp"
#include "test_util.hpp"

using namespace plasma;
using plasma_test::expectError;

namespace {

// -1, 0, 1 like memcmp with the shorter string first on a common prefix.
int byteCompare(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  const int c = n == 0 ? 0 : std::memcmp(a.data(), b.data(), n);
  if (c != 0) return c < 0 ? -1 : 1;
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

template <class T>
int cmp3(const T& a, const T& b) {
  if (a < b) return -1;
  if (b < a) return 1;
  return 0;
}

std::int64_t randomInt(std::mt19937_64& rng) {
  static const std::int64_t specials[] = {std::numeric_limits<std::int64_t>::min(),
                                          std::numeric_limits<std::int64_t>::min() + 1,
                                          -256, -255, -1, 0, 1, 255, 256,
                                          std::numeric_limits<std::int64_t>::max() - 1,
                                          std::numeric_limits<std::int64_t>::max()};
  switch (rng() % 4) {
    case 0: return specials[rng() % std::size(specials)];
    case 1: return static_cast<std::int64_t>(rng() % 2001) - 1000;  // small, many ties
    default: return static_cast<std::int64_t>(rng());                 // full range, both signs
  }
}

// Text drawn from a small alphabet that includes NUL, 0x01, 0xFF and UTF-8
// lead/continuation bytes, so prefixes, embedded NULs and escapes are common.
std::string randomText(std::mt19937_64& rng) {
  static const std::vector<std::string> atoms = {
      std::string(1, '\0'), "\x01", "\xff", "a", "b", "A", "z", " ", "\xc3\xa9" /* é */,
      "\xe6\x97\xa5" /* 日 */, "\xf0\x9f\x98\x80" /* 😀 */, std::string("\0\xff", 2)};
  std::string s;
  const std::size_t len = rng() % 7;
  for (std::size_t i = 0; i < len; ++i) s += atoms[rng() % atoms.size()];
  return s;
}

std::string enc(const Value& v) { return keys::encodeKey(v); }

}  // namespace

TEST_CASE("integer keys keep numeric order including sign, min and max", "[engine][keys]") {
  std::mt19937_64 rng(20240601);
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t a = randomInt(rng), b = randomInt(rng);
    CAPTURE(a, b);
    REQUIRE(byteCompare(enc(Value(a)), enc(Value(b))) == cmp3(a, b));
  }
  CHECK(enc(Value(std::int64_t{-1})) < enc(Value(std::int64_t{0})));
  CHECK(enc(Value(std::numeric_limits<std::int64_t>::min())).size() == 9);
  CHECK(byteCompare(enc(Value(std::numeric_limits<std::int64_t>::min())),
                    enc(Value(std::numeric_limits<std::int64_t>::max()))) < 0);
}

TEST_CASE("text keys keep byte order with embedded NULs, prefixes and unicode", "[engine][keys]") {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 20000; ++i) {
    const std::string a = randomText(rng), b = randomText(rng);
    CAPTURE(a, b);
    REQUIRE(byteCompare(enc(Value(a)), enc(Value(b))) == byteCompare(a, b));
  }
  // Hand-picked edges: a prefix sorts first; NUL sorts below every other byte.
  const std::vector<std::string> ordered = {
      "", std::string(1, '\0'), std::string("\0\0", 2), std::string("\0\x01", 2), "\x01", "A", "Z", "a",
      std::string("a\0", 2), std::string("a\0b", 3), "a\x01", "ab", "abc", "b", "z",
      "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80", "\xff", "\xff\xff"};
  for (std::size_t i = 0; i + 1 < ordered.size(); ++i) {
    CAPTURE(i, ordered[i], ordered[i + 1]);
    CHECK(byteCompare(enc(Value(ordered[i])), enc(Value(ordered[i + 1]))) < 0);
  }
}

TEST_CASE("boolean keys sort false before true and encode like the integers 0 and 1", "[engine][keys]") {
  CHECK(byteCompare(enc(Value(false)), enc(Value(true))) < 0);
  CHECK(enc(Value(false)) == enc(Value(std::int64_t{0})));
  CHECK(enc(Value(true)) == enc(Value(std::int64_t{1})));
  std::size_t pos = 0;
  const std::string k = enc(Value(true));
  CHECK(keys::decodeKeyPart(k, pos) == Value(std::int64_t{1}));
  CHECK(pos == k.size());
}

TEST_CASE("NULL sorts before every other value and kinds keep their tag order", "[engine][keys]") {
  std::mt19937_64 rng(5);
  const std::string null_key = enc(Value());
  CHECK(null_key.size() == 1);
  for (int i = 0; i < 2000; ++i) {
    CHECK(byteCompare(null_key, enc(Value(randomInt(rng)))) < 0);
    CHECK(byteCompare(null_key, enc(Value(randomText(rng)))) < 0);
  }
  CHECK(byteCompare(null_key, enc(Value(false))) < 0);
  CHECK(byteCompare(null_key, enc(Value(Bytes{}))) < 0);
  CHECK(byteCompare(null_key, enc(Value(-1e300))) < 0);
  // integer < real < text < blob (the tags of keys.hpp)
  CHECK(byteCompare(enc(Value(std::numeric_limits<std::int64_t>::max())), enc(Value(""))) < 0);
  CHECK(byteCompare(enc(Value("\xff\xff")), enc(Value(Bytes{}))) < 0);
}

TEST_CASE("real keys keep numeric order", "[engine][keys]") {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> wide(-1e12, 1e12);
  const double specials[] = {-std::numeric_limits<double>::infinity(), -1e308, -1.5, -1e-300, 0.0,
                             1e-300, 1.5, 1e308, std::numeric_limits<double>::infinity()};
  for (int i = 0; i < 10000; ++i) {
    const double a = rng() % 3 == 0 ? specials[rng() % std::size(specials)] : wide(rng);
    const double b = rng() % 3 == 0 ? specials[rng() % std::size(specials)] : wide(rng);
    CAPTURE(a, b);
    REQUIRE(byteCompare(enc(Value(a)), enc(Value(b))) == cmp3(a, b));
    std::size_t pos = 0;
    const std::string k = enc(Value(a));
    REQUIRE(keys::decodeKeyPart(k, pos) == Value(a));
  }
}

TEST_CASE("composite keys order like tuples, NULL parts first", "[engine][keys]") {
  // (nullable integer, text, integer) with small domains so ties on leading parts are common.
  using Tuple = std::tuple<std::optional<std::int64_t>, std::string, std::int64_t>;
  std::mt19937_64 rng(424242);
  auto randomTuple = [&] {
    std::optional<std::int64_t> a;
    if (rng() % 5 != 0) a = static_cast<std::int64_t>(rng() % 7) - 3;
    static const std::vector<std::string> texts = {"", std::string(1, '\0'), "a", std::string("a\0", 2), "ab", "b"};
    return Tuple{a, texts[rng() % texts.size()], static_cast<std::int64_t>(rng() % 5) - 2};
  };
  auto encodeTuple = [](const Tuple& t) {
    std::string out;
    keys::encodeKeyPart(std::get<0>(t) ? Value(*std::get<0>(t)) : Value(), out);
    keys::encodeKeyPart(Value(std::get<1>(t)), out);
    keys::encodeKeyPart(Value(std::get<2>(t)), out);
    return out;
  };
  for (int i = 0; i < 20000; ++i) {
    const Tuple a = randomTuple(), b = randomTuple();
    const std::string ka = encodeTuple(a), kb = encodeTuple(b);
    CAPTURE(i, std::get<1>(a), std::get<1>(b));
    // std::optional orders nullopt first; std::string orders bytes unsigned.
    REQUIRE(byteCompare(ka, kb) == cmp3(a, b));
    // A prefix of parts is a byte prefix of the key (equality on leading columns).
    std::string lead;
    keys::encodeKeyPart(std::get<0>(a) ? Value(*std::get<0>(a)) : Value(), lead);
    keys::encodeKeyPart(Value(std::get<1>(a)), lead);
    REQUIRE(ka.compare(0, lead.size(), lead) == 0);
    // Keys with that leading prefix sort below prefixSuccessor(lead).
    const std::string succ = keys::prefixSuccessor(lead);
    REQUIRE(byteCompare(ka, succ) < 0);
    if (byteCompare(kb, lead) >= 0 && kb.compare(0, lead.size(), lead) != 0) {
      REQUIRE(byteCompare(kb, succ) >= 0);
    }
  }
}

TEST_CASE("decodeKeyPart round-trips every kind and composite keys", "[engine][keys]") {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 5000; ++i) {
    std::vector<Value> parts;
    const int n = 1 + static_cast<int>(rng() % 4);
    for (int p = 0; p < n; ++p) {
      switch (rng() % 4) {
        case 0: parts.emplace_back(); break;
        case 1: parts.emplace_back(randomInt(rng)); break;
        case 2: parts.emplace_back(randomText(rng)); break;
        default: {
          std::string t = randomText(rng);
          parts.emplace_back(Bytes(t.begin(), t.end()));
        }
      }
    }
    std::string key;
    for (const auto& v : parts) keys::encodeKeyPart(v, key);
    std::size_t pos = 0;
    for (const auto& v : parts) {
      REQUIRE(pos < key.size());
      REQUIRE(keys::decodeKeyPart(key, pos) == v);
    }
    REQUIRE(pos == key.size());
  }
  // JSON encodes as its text.
  CHECK(enc(Value::json("{\"a\":1}")) == enc(Value("{\"a\":1}")));
}

TEST_CASE("malformed keys and file values are rejected", "[engine][keys]") {
  auto decode = [](std::string key) {
    std::size_t pos = 0;
    (void)keys::decodeKeyPart(key, pos);
  };
  expectError([&] { decode(""); }, ErrorCode::InvalidArgument);
  expectError([&] { decode("\x09"); }, ErrorCode::InvalidArgument);
  expectError([&] { decode(std::string("\x02\x00\x01", 3)); }, ErrorCode::InvalidArgument);  // truncated integer
  expectError([&] { decode("\x04" "abc"); }, ErrorCode::InvalidArgument);                    // unterminated text
  expectError([&] { decode(std::string("\x04" "a\0", 3)); }, ErrorCode::InvalidArgument);    // truncated escape
  expectError([&] { decode(std::string("\x04" "a\0\x07", 4)); }, ErrorCode::InvalidArgument);  // bad escape
  expectError([] { (void)keys::encodeKey(Value(FileRef{"h", 1, "text/plain"})); }, ErrorCode::TypeMismatch);
}

TEST_CASE("u64 keys are big-endian and ordered - prefixSuccessor bounds a prefix", "[engine][keys]") {
  std::mt19937_64 rng(8);
  for (int i = 0; i < 10000; ++i) {
    const std::uint64_t a = rng() >> (rng() % 64), b = rng() >> (rng() % 64);
    const std::string ka = keys::encodeU64(a), kb = keys::encodeU64(b);
    REQUIRE(ka.size() == 8);
    REQUIRE(byteCompare(ka, kb) == cmp3(a, b));
    REQUIRE(keys::decodeU64(ka) == a);
  }
  CHECK(keys::encodeU64(1) == std::string("\0\0\0\0\0\0\0\x01", 8));
  CHECK(keys::encodeU64(0x0102030405060708ULL) == "\x01\x02\x03\x04\x05\x06\x07\x08");
  CHECK(keys::prefixSuccessor("ab") == "ac");
  CHECK(keys::prefixSuccessor("a\xff") == "b");
  CHECK(keys::prefixSuccessor(std::string("a\xff\xff", 3)) == "b");
  CHECK(keys::prefixSuccessor("\xff\xff").empty());
  CHECK(keys::prefixSuccessor("").empty());
}
