// crypto/content_hash.hpp — content addresses for file() columns and blobs:
// BLAKE2b-256 (libsodium's crypto_generichash) as 64 lowercase hex digits.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace plasma::crypto {

std::string contentHash(std::span<const std::uint8_t> bytes);

}  // namespace plasma::crypto
