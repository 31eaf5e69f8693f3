// engine/keys.hpp — order-preserving key encoding for indexes and the log.
//
// encodeKeyPart appends one value so that memcmp order of the encoded bytes
// equals SQLite's order of the values within one kind, NULL first:
//
//   NULL      0x01
//   integer   0x02  8 bytes big-endian with the sign bit flipped
//   boolean   0x02  as the integer 0 or 1 (SQLite stores booleans as integers)
//   real      0x03  8 bytes: IEEE-754 bits, sign-flipped for order
//   text      0x04  bytes with 0x00 escaped as 0x00 0xFF, then 0x00 0x00
//   json      0x04  as text (its serialized form)
//   blob      0x05  escaped like text
//
// Composite keys are the concatenation of their parts; the terminator makes
// a shorter text sort before any longer text with the same prefix, so a
// prefix of parts is a prefix of the key (for equality on leading columns).
// File values are not indexable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "plasma/value.hpp"

namespace plasma::keys {

// Appends the encoding of `v` to `out`. Throws Error(TypeMismatch) for File.
void encodeKeyPart(const Value& v, std::string& out);
std::string encodeKey(const Value& v);

// Decodes one part starting at `pos`, advancing it. Throws
// Error(InvalidArgument) on malformed input. Booleans decode as integers.
Value decodeKeyPart(std::string_view key, std::size_t& pos);

// The type tag that starts every encoded value of kind `k` (NULL: 0x01).
char kindTag(Kind k) noexcept;

// Big-endian u64, for `_changes` keys (row_version).
std::string encodeU64(std::uint64_t v);
std::uint64_t decodeU64(std::string_view bytes);

// The smallest key greater than every key that starts with `prefix`
// (empty when no such key exists: prefix is all 0xFF).
std::string prefixSuccessor(std::string_view prefix);

}  // namespace plasma::keys
