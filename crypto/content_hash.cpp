#include "crypto/content_hash.hpp"

#include <array>
#include <stdexcept>

#include <sodium.h>

namespace plasma::crypto {

std::string contentHash(std::span<const std::uint8_t> bytes) {
  static const int init = sodium_init();
  if (init < 0) throw std::runtime_error("libsodium failed to initialize");
  std::array<std::uint8_t, crypto_generichash_BYTES> digest{};
  crypto_generichash(digest.data(), digest.size(), bytes.data(), bytes.size(), nullptr, 0);
  std::string hex(digest.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  hex.pop_back();
  return hex;
}

}  // namespace plasma::crypto
