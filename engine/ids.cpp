// UUIDv7 ids (RFC 9562): 48-bit Unix milliseconds, version 7, a 12-bit
// counter that keeps ids made in the same millisecond in order, variant 10,
// 62 random bits (libsodium's CSPRNG).
#include <array>
#include <chrono>
#include <mutex>

#include <sodium.h>

#include "plasma/database.hpp"
#include "plasma/error.hpp"

namespace plasma {

namespace {

struct Clock {
  std::mutex mu;
  std::uint64_t last_ms = 0;
  std::uint16_t counter = 0;
};

Clock& clockState() {
  static Clock c;
  return c;
}

void ensureSodium() {
  static const int rc = sodium_init();
  if (rc < 0) throw Error(ErrorCode::Storage, "libsodium failed to initialize");
}

}  // namespace

std::string newId() {
  ensureSodium();
  std::uint64_t ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  std::uint16_t counter = 0;
  {
    Clock& c = clockState();
    std::lock_guard lock(c.mu);
    if (ms <= c.last_ms) {
      ms = c.last_ms;
      if (++c.counter > 0x0FFF) {  // counter exhausted: borrow the next millisecond
        ++ms;
        c.counter = 0;
      }
    } else {
      c.counter = 0;
    }
    c.last_ms = ms;
    counter = c.counter;
  }
  std::array<std::uint8_t, 16> b{};
  randombytes_buf(b.data() + 8, 8);
  for (int i = 0; i < 6; ++i) b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
  b[6] = static_cast<std::uint8_t>(0x70 | ((counter >> 8) & 0x0F));
  b[7] = static_cast<std::uint8_t>(counter & 0xFF);
  b[8] = static_cast<std::uint8_t>(0x80 | (b[8] & 0x3F));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0F]);
  }
  return out;
}

}  // namespace plasma
