#include "engine/json_value.hpp"

#include <cmath>
#include <vector>
#include <limits>

#include <boost/json.hpp>
#include <sodium.h>

#include "plasma/error.hpp"

namespace plasma::detail {

namespace json = boost::json;

namespace {

std::string_view jsonKind(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "number";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
  }
  return "?";
}

[[noreturn]] void mismatch(const TableSpec& t, const ColumnSpec& c, const json::value& v, std::string_view want) {
  throw Error(ErrorCode::TypeMismatch, "column " + t.name + "." + c.name + ": expected " + std::string(want) +
                                           ", got " + std::string(jsonKind(v)) + " " + json::serialize(v));
}


std::optional<std::int64_t> integral(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return static_cast<std::int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    const double d = v.get_double();
    if (std::trunc(d) == d && std::abs(d) < 9.2e18) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

Bytes base64Decode(const TableSpec& t, const ColumnSpec& c, const json::value& v) {
  const auto& s = v.get_string();
  Bytes out(s.size() * 3 / 4 + 3);
  std::size_t len = 0;
  if (sodium_base642bin(out.data(), out.size(), s.data(), s.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    mismatch(t, c, v, "a base64 string");
  }
  out.resize(len);
  return out;
}

}  // namespace

// Boost.JSON parses a number too large for a double (1e999) as infinity and
// would write it back as `Infinity`, which is not JSON: such a value must
// not reach a json column. Iterative: the parser bounds the depth, but a
// wide value must not recurse per element.
bool jsonNumbersFinite(const json::value& v) noexcept {
  std::vector<const json::value*> pending{&v};
  while (!pending.empty()) {
    const json::value* x = pending.back();
    pending.pop_back();
    if (x->is_double()) {
      if (!std::isfinite(x->get_double())) return false;
    } else if (x->is_array()) {
      for (const json::value& e : x->get_array()) pending.push_back(&e);
    } else if (x->is_object()) {
      for (const auto& kv : x->get_object()) pending.push_back(&kv.value());
    }
  }
  return true;
}

Value valueFromJson(const TableSpec& t, const ColumnSpec& c, const json::value& v) {
  if (v.is_null()) return Value();
  switch (c.kind()) {
    case Kind::Text:
      if (!v.is_string()) mismatch(t, c, v, "a string");
      return Value(std::string(v.get_string()));
    case Kind::Integer: {
      auto i = integral(v);
      if (!i) mismatch(t, c, v, "an integer");
      return Value(*i);
    }
    case Kind::Boolean:
      if (v.is_bool()) return Value(v.get_bool());
      if (auto i = integral(v); i && (*i == 0 || *i == 1)) return Value(*i == 1);
      mismatch(t, c, v, "a boolean");
    case Kind::Blob:
      if (!v.is_string()) mismatch(t, c, v, "a base64 string");
      return Value(base64Decode(t, c, v));
    case Kind::Json:
      if (!jsonNumbersFinite(v)) mismatch(t, c, v, "JSON whose numbers fit a double (this one overflows to infinity)");
      return Value::json(json::serialize(v));
    case Kind::File: {
      if (!v.is_object()) mismatch(t, c, v, "a file reference {hash, size, mime}");
      const auto& o = v.get_object();
      const auto* hash = o.if_contains("hash");
      const auto* size = o.if_contains("size");
      const auto* mime = o.if_contains("mime");
      if (hash == nullptr || !hash->is_string() || size == nullptr || !integral(*size) || mime == nullptr ||
          !mime->is_string()) {
        mismatch(t, c, v, "a file reference {hash: string, size: integer, mime: string}");
      }
      return Value(FileRef{std::string(hash->get_string()), *integral(*size), std::string(mime->get_string())});
    }
    default: break;
  }
  mismatch(t, c, v, "a value");
}

}  // namespace plasma::detail
