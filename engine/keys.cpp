#include "engine/keys.hpp"

#include <bit>
#include <cassert>
#include <cstring>

#include "plasma/error.hpp"

namespace plasma::keys {

namespace {

constexpr char kNull = 0x01;
constexpr char kInteger = 0x02;
constexpr char kReal = 0x03;
constexpr char kText = 0x04;
constexpr char kBlob = 0x05;

void putU64(std::uint64_t v, std::string& out) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

std::uint64_t getU64(std::string_view in, std::size_t pos) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(in[pos + i]);
  return v;
}

void putEscaped(std::string_view bytes, std::string& out) {
  for (char c : bytes) {
    out.push_back(c);
    if (c == '\0') out.push_back(static_cast<char>(0xFF));
  }
  out.push_back('\0');
  out.push_back('\0');
}

std::string getEscaped(std::string_view in, std::size_t& pos) {
  std::string out;
  while (true) {
    if (pos >= in.size()) throw Error(ErrorCode::InvalidArgument, "key: unterminated text part");
    const char c = in[pos++];
    if (c != '\0') {
      out.push_back(c);
      continue;
    }
    if (pos >= in.size()) throw Error(ErrorCode::InvalidArgument, "key: truncated escape");
    const auto next = static_cast<std::uint8_t>(in[pos++]);
    if (next == 0x00) return out;
    if (next != 0xFF) throw Error(ErrorCode::InvalidArgument, "key: bad escape byte");
    out.push_back('\0');
  }
}

}  // namespace

void encodeKeyPart(const Value& v, std::string& out) {
  switch (v.kind()) {
    case Kind::Null:
      out.push_back(kNull);
      return;
    case Kind::Integer:
    case Kind::Boolean: {
      const std::int64_t i = v.kind() == Kind::Integer ? v.asInt() : (v.asBool() ? 1 : 0);
      out.push_back(kInteger);
      putU64(static_cast<std::uint64_t>(i) ^ (std::uint64_t{1} << 63), out);
      return;
    }
    case Kind::Real: {
      auto bits = std::bit_cast<std::uint64_t>(v.asReal());
      // Positive numbers: flip the sign bit; negative: flip every bit.
      bits = (bits & (std::uint64_t{1} << 63)) != 0 ? ~bits : bits | (std::uint64_t{1} << 63);
      out.push_back(kReal);
      putU64(bits, out);
      return;
    }
    case Kind::Text:
      out.push_back(kText);
      putEscaped(v.asText(), out);
      return;
    case Kind::Json:
      out.push_back(kText);
      putEscaped(v.asJson(), out);
      return;
    case Kind::Blob: {
      const auto& b = v.asBlob();
      out.push_back(kBlob);
      putEscaped(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()), out);
      return;
    }
    case Kind::File:
      throw Error(ErrorCode::TypeMismatch, "file values cannot be part of an index key");
  }
}

char kindTag(Kind k) noexcept {
  switch (k) {
    case Kind::Null: return kNull;
    case Kind::Integer:
    case Kind::Boolean: return kInteger;
    case Kind::Real: return kReal;
    case Kind::Text:
    case Kind::Json: return kText;
    case Kind::Blob: return kBlob;
    case Kind::File: return 0x7F;  // not indexable
  }
  return 0x7F;
}

std::string encodeKey(const Value& v) {
  std::string out;
  encodeKeyPart(v, out);
  return out;
}

Value decodeKeyPart(std::string_view key, std::size_t& pos) {
  if (pos >= key.size()) throw Error(ErrorCode::InvalidArgument, "key: no part at this position");
  const char tag = key[pos++];
  switch (tag) {
    case kNull:
      return Value();
    case kInteger: {
      if (pos + 8 > key.size()) throw Error(ErrorCode::InvalidArgument, "key: truncated integer");
      const std::uint64_t u = getU64(key, pos) ^ (std::uint64_t{1} << 63);
      pos += 8;
      return Value(static_cast<std::int64_t>(u));
    }
    case kReal: {
      if (pos + 8 > key.size()) throw Error(ErrorCode::InvalidArgument, "key: truncated real");
      std::uint64_t bits = getU64(key, pos);
      pos += 8;
      bits = (bits & (std::uint64_t{1} << 63)) != 0 ? bits & ~(std::uint64_t{1} << 63) : ~bits;
      return Value(std::bit_cast<double>(bits));
    }
    case kText:
      return Value(getEscaped(key, pos));
    case kBlob: {
      std::string s = getEscaped(key, pos);
      return Value(Bytes(s.begin(), s.end()));
    }
    default:
      throw Error(ErrorCode::InvalidArgument, "key: unknown type tag");
  }
}

std::string encodeU64(std::uint64_t v) {
  std::string out;
  out.reserve(8);
  putU64(v, out);
  return out;
}

std::uint64_t decodeU64(std::string_view bytes) {
  if (bytes.size() != 8) throw Error(ErrorCode::CorruptRow, "change-log key is not 8 bytes");
  return getU64(bytes, 0);
}

std::string prefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(s.back());
    if (last != 0xFF) {
      ++last;
      return s;
    }
    s.pop_back();
  }
  return s;
}

}  // namespace plasma::keys
