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
#include <cstring>
#include <string>
#include <string_view>

namespace plasma::sync::detail {

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
