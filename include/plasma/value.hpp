// plasma/value.hpp — the dynamically typed value every column, literal and
// argument is converted to at the edges of the engine.
//
// Stored rows are read in place (see row.hpp); Value is the owning form used
// for literals in expressions, for values written by insert/update, and for
// rows copied out of a transaction.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace plasma {

// The kinds a Value can hold. Column types map onto them (schema.hpp):
// id/text -> Text, integer/bigint -> Integer, boolean -> Boolean,
// blob -> Blob, json and the CRDT columns -> Json (serialized JSON text),
// file -> File. Real only appears in computed results (avg).
enum class Kind : std::uint8_t { Null, Integer, Real, Boolean, Text, Blob, Json, File };

std::string_view kindName(Kind k) noexcept;

using Bytes = std::vector<std::uint8_t>;

// A stored file reference: content hash, size in bytes, MIME type.
struct FileRef {
  std::string hash;
  std::int64_t size = 0;
  std::string mime;
  friend bool operator==(const FileRef&, const FileRef&) = default;
  friend auto operator<=>(const FileRef&, const FileRef&) = default;
};

// Serialized JSON text, kept distinct from Text so a json column can tell a
// JSON document from a plain string.
struct JsonText {
  std::string text;
  friend bool operator==(const JsonText&, const JsonText&) = default;
  friend auto operator<=>(const JsonText&, const JsonText&) = default;
};

class Value {
 public:
  Value() = default;  // NULL
  Value(std::nullptr_t) {}
  Value(std::int64_t v) : v_(v) {}
  Value(int v) : v_(static_cast<std::int64_t>(v)) {}
  Value(double v) : v_(v) {}
  Value(bool v) : v_(v) {}
  Value(std::string v) : v_(std::move(v)) {}
  Value(std::string_view v) : v_(std::string(v)) {}
  Value(const char* v) : v_(std::string(v)) {}
  Value(Bytes v) : v_(std::move(v)) {}
  Value(JsonText v) : v_(std::move(v)) {}
  Value(FileRef v) : v_(std::move(v)) {}

  static Value null() { return {}; }
  static Value json(std::string text) { return Value(JsonText{std::move(text)}); }

  Kind kind() const noexcept { return static_cast<Kind>(v_.index()); }
  bool isNull() const noexcept { return kind() == Kind::Null; }

  // Accessors. REQUIRES: kind() is the matching kind.
  std::int64_t asInt() const { return std::get<std::int64_t>(v_); }
  double asReal() const { return std::get<double>(v_); }
  bool asBool() const { return std::get<bool>(v_); }
  const std::string& asText() const { return std::get<std::string>(v_); }
  const Bytes& asBlob() const { return std::get<Bytes>(v_); }
  const std::string& asJson() const { return std::get<JsonText>(v_).text; }
  const FileRef& asFile() const { return std::get<FileRef>(v_); }

  // A short human-readable rendering for error messages and the CLI.
  std::string toString() const;

  friend bool operator==(const Value&, const Value&) = default;

 private:
  std::variant<std::monostate, std::int64_t, double, bool, std::string, Bytes, JsonText, FileRef> v_;
};

}  // namespace plasma
