// sync/raw_out.hpp — the output buffer of the response encoders (internal).
//
// One std::string grown geometrically and written through a raw cursor:
// each item reserves its worst case with need(), writes, and advance()s.
// Bytes past size() are uninitialized until written, so an encoder must
// write every byte it keeps, padding included.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace plasma::sync::detail {

// Decimal digits of integers, written for the pull's hot path: a 13-digit
// millisecond timestamp in about half the time of std::to_chars (which
// divides by 100 once per two digits, each step waiting for the last).
// Here the number is cut into 8-digit groups, and each group's four digit
// pairs are computed independently.
struct DigitPairs {
  char d[200];
  constexpr DigitPairs() : d() {
    for (int i = 0; i < 100; ++i) {
      d[2 * i] = static_cast<char>('0' + i / 10);
      d[2 * i + 1] = static_cast<char>('0' + i % 10);
    }
  }
};
inline constexpr DigitPairs kDigitPairs{};

// Exactly 8 digits of v (< 10^8), leading zeros included.
[[gnu::always_inline]] inline void writeDigits8(char* p, std::uint32_t v) noexcept {
  const std::uint32_t hi = v / 10000, lo = v % 10000;
  std::memcpy(p, kDigitPairs.d + 2 * (hi / 100), 2);
  std::memcpy(p + 2, kDigitPairs.d + 2 * (hi % 100), 2);
  std::memcpy(p + 4, kDigitPairs.d + 2 * (lo / 100), 2);
  std::memcpy(p + 6, kDigitPairs.d + 2 * (lo % 100), 2);
}

// The digits of v (< 10^8) without leading zeros; returns the end.
[[gnu::always_inline]] inline char* writeDigitsUpTo8(char* p, std::uint32_t v) noexcept {
  const int n = v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : v < 10000 ? 4 : v < 100000 ? 5 : v < 1000000 ? 6 : v < 10000000 ? 7 : 8;
  char tmp[16] = {};  // the 8 digits, then 8 zeros the copy below may read
  writeDigits8(tmp, v);
  std::memcpy(p, tmp + 8 - n, 8);  // the n digits, then zeros the caller has room for
  return p + n;
}

// Writes v in decimal at p, which has room for 24 bytes, and returns the
// end: the same text as std::to_chars. The longest is 20 characters; a few
// bytes past the end may be written too (never past p + 21), which later
// output overwrites or RawOut leaves beyond size().
inline char* writeInt(char* p, std::int64_t value) noexcept {
  std::uint64_t u = static_cast<std::uint64_t>(value);
  if (value < 0) {
    *p++ = '-';
    u = 0 - u;
  }
  if (u < 100000000) return writeDigitsUpTo8(p, static_cast<std::uint32_t>(u));
  const std::uint64_t low = u % 100000000;
  u /= 100000000;
  if (u < 100000000) {
    p = writeDigitsUpTo8(p, static_cast<std::uint32_t>(u));
  } else {
    p = writeDigitsUpTo8(p, static_cast<std::uint32_t>(u / 100000000));  // at most 4 digits: 2^64 < 10^20
    writeDigits8(p, static_cast<std::uint32_t>(u % 100000000));
    p += 8;
  }
  writeDigits8(p, static_cast<std::uint32_t>(low));
  return p + 8;
}

class RawOut {
 public:
  explicit RawOut(std::size_t initial) { grow(std::max<std::size_t>(initial, 256)); }
  // Room for n more bytes; returns where to write them.
  [[gnu::always_inline]] char* need(std::size_t n) {
    if (len_ + n > buf_.size()) [[unlikely]] grow(std::max(buf_.size() * 2, len_ + n));
    return buf_.data() + len_;
  }
  void advance(char* to) { len_ = static_cast<std::size_t>(to - buf_.data()); }
  std::size_t size() const noexcept { return len_; }
  // A byte already written (for values patched in later).
  char* at(std::size_t pos) noexcept { return buf_.data() + pos; }
  void put(std::string_view s) {
    char* p = need(s.size());
    std::memcpy(p, s.data(), s.size());
    len_ += s.size();
  }
  void put(char c) {
    *need(1) = c;
    ++len_;
  }
  template <class Int>
  void putInt(Int v) {
    char* p = need(24);
    advance(std::to_chars(p, p + 24, v).ptr);
  }
  std::string take() {
    buf_.resize(len_);
    return std::move(buf_);
  }

 private:
  // To `size` bytes, keeping the first len_ and leaving the rest
  // uninitialized.
  [[gnu::noinline]] void grow(std::size_t size) {
    buf_.resize_and_overwrite(size, [&](char*, std::size_t n) { return n; });
  }
  std::string buf_;
  std::size_t len_ = 0;
};

}  // namespace plasma::sync::detail
