// The JSON encoding of the sync messages (Replicache push/pull version 1),
// the encoding-independent entry points, error bodies and the validation
// helpers both encodings share. See sync/codec.hpp and docs/protocol.md.
//
// Decoding parses the body into a monotonic arena (one or two allocations
// for the whole tree instead of one per node) and copies out only what the
// message keeps; `args` and `userInfo` are copied into the default allocator
// because they outlive the arena. Encoding appends to one std::string
// directly — no boost::json tree — which matters for pull responses of
// thousands of rows: each row's columns are read from its stored bytes and
// written as JSON in one pass.
#include <sodium.h>

#include <algorithm>
#include <array>
#include <charconv>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cmath>
#include <cstring>
#include <limits>

#include <boost/json.hpp>

#include "engine/json_parse.hpp"
#include "engine/json_value.hpp"
#include "sync/codec.hpp"
#include "sync/raw_out.hpp"

namespace plasma::sync {

namespace json = boost::json;

// ---------------------------------------------------------------------------
// Error kinds
// ---------------------------------------------------------------------------

std::string_view kindName(SyncErrorKind kind) noexcept {
  switch (kind) {
    case SyncErrorKind::BadRequest: return "BadRequest";
    case SyncErrorKind::Unauthorized: return "Unauthorized";
    case SyncErrorKind::VersionNotSupported: return "VersionNotSupported";
    case SyncErrorKind::ClientStateNotFound: return "ClientStateNotFound";
    case SyncErrorKind::PayloadTooLarge: return "PayloadTooLarge";
    case SyncErrorKind::NotFound: return "NotFound";
    case SyncErrorKind::MethodNotAllowed: return "MethodNotAllowed";
    case SyncErrorKind::Unavailable: return "Unavailable";
    case SyncErrorKind::Internal: return "Internal";
  }
  return "Internal";
}

SyncErrorKind kindFromName(std::string_view name) noexcept {
  for (auto k : {SyncErrorKind::BadRequest, SyncErrorKind::Unauthorized, SyncErrorKind::VersionNotSupported,
                 SyncErrorKind::ClientStateNotFound, SyncErrorKind::PayloadTooLarge, SyncErrorKind::NotFound,
                 SyncErrorKind::MethodNotAllowed, SyncErrorKind::Unavailable}) {
    if (kindName(k) == name) return k;
  }
  return SyncErrorKind::Internal;
}

// ---------------------------------------------------------------------------
// Shared validation helpers
// ---------------------------------------------------------------------------

namespace detail {

std::string Where::field(std::string_view name) const {
  std::string s(message);
  s += ": ";
  if (!array.empty()) {
    s += array;
    s += '[';
    s += std::to_string(index);
    s += "].";
  }
  s += name;
  return s;
}

void badRequest(std::string message) { throw SyncError(SyncErrorKind::BadRequest, std::move(message)); }

bool validUtf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // ASCII fast path: 8 bytes at a time.
    if (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        p += 8;
        continue;
      }
    }
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    // Multi-byte: lead byte decides the length and the valid range of the
    // second byte (no overlongs, no surrogates, nothing past U+10FFFF).
    int n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (end - p <= n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (int i = 2; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
    }
    p += n + 1;
  }
  return true;
}

std::string quoted(std::string_view s) {
  constexpr std::size_t kMax = 64;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7F) {
      // Untrusted bytes: keep messages printable ASCII.
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  out += '"';
  return out;
}

void checkShortString(const Where& w, std::string_view field, std::string_view s) {
  if (s.size() > kMaxIdBytes) {
    badRequest(w.field(field) + " is longer than " + std::to_string(kMaxIdBytes) + " bytes (" +
               std::to_string(s.size()) + ")");
  }
  if (!validUtf8(s)) badRequest(w.field(field) + " is not valid UTF-8");
}

void checkId(const Where& w, std::string_view field, std::string_view s) {
  if (s.empty()) badRequest(w.field(field) + " must be a non-empty string");
  checkShortString(w, field, s);
}

void checkProtocolVersion(std::string_view type, std::int64_t version) {
  const std::int64_t supported = type == "push" ? kPushVersion : kPullVersion;
  if (version != supported) {
    throw SyncError(SyncErrorKind::VersionNotSupported,
                    std::string(type) + ": " + std::string(type) + "Version " + std::to_string(version) +
                        " is not supported (this server speaks " + std::to_string(supported) + ")",
                    std::string(type));
  }
}

json::value parseJsonText(const Where& w, std::string_view field, std::string_view text) {
  json::error_code ec;
  json::value v = parseJsonExact(text, ec, {}, jsonParseOptions());
  if (ec) badRequest(w.field(field) + " is not valid JSON: " + ec.message());
  requireFiniteNumbers(w, field, v);
  return v;
}

void requireFiniteNumbers(const Where& w, std::string_view field, const json::value& v) {
  if (!allNumbersFinite(v)) badRequest(w.field(field) + " holds a number out of the range of a double (such as 1e999)");
}

std::string_view outcomeName(MutationOutcome o) noexcept {
  switch (o) {
    case MutationOutcome::Applied: return "applied";
    case MutationOutcome::Failed: return "failed";
    case MutationOutcome::Skipped: return "skipped";
    case MutationOutcome::Deferred: return "deferred";
    case MutationOutcome::Rejected: return "rejected";
  }
  return "applied";
}

}  // namespace detail

using detail::badRequest;
using detail::Where;

// ---------------------------------------------------------------------------
// Content types
// ---------------------------------------------------------------------------

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Encoding encodingFor(std::string_view content_type) {
  const std::string_view media = trim(content_type.substr(0, content_type.find(';')));
  if (media.empty() || iequals(media, kJsonContentType)) return Encoding::Json;
  if (iequals(media, kFlatBuffersContentType)) return Encoding::FlatBuffers;
  throw SyncError(SyncErrorKind::BadRequest, "unsupported Content-Type " + detail::quoted(content_type) +
                                                 " (use application/json or application/x-plasma-flatbuffers)");
}

std::string_view contentType(Encoding e) noexcept {
  return e == Encoding::FlatBuffers ? kFlatBuffersContentType : kJsonContentType;
}

// ---------------------------------------------------------------------------
// JSON writing: straight into one string
// ---------------------------------------------------------------------------

namespace {

// True when one of the 8 bytes of `w` is a control character, '"' or '\\'
// (the usual SWAR zero-byte tests), so clean text is scanned 8 bytes at a time.
constexpr bool needsEscape8(std::uint64_t w) noexcept {
  constexpr std::uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  const std::uint64_t quote = w ^ (kOnes * '"'), backslash = w ^ (kOnes * '\\');
  const std::uint64_t hits = ((w - kOnes * 0x20) & ~w) | ((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash);
  return (hits & kHigh) != 0;
}

void appendEscaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (needsEscape8(w)) break;
  }
  std::size_t run = 0;  // start of the pending run of bytes that need no escape
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    out.push_back('\\');
    switch (c) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '\n': out.push_back('n'); break;
      case '\r': out.push_back('r'); break;
      case '\t': out.push_back('t'); break;
      case '\b': out.push_back('b'); break;
      case '\f': out.push_back('f'); break;
      default:
        out.append("u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

template <class Int>
void appendInt(std::string& out, Int v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// JSON has no NaN or infinity: those are written as 0.
void appendDouble(std::string& out, double v) {
  if (!std::isfinite(v)) v = 0;
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// `"key":`
void appendKey(std::string& out, std::string_view key) {
  appendEscaped(out, key);
  out.push_back(':');
}

void appendJson(std::string& out, const json::value& v) { out += json::serialize(v); }

void appendBase64(std::string& out, std::span<const std::uint8_t> b) {
  const std::size_t len = sodium_base64_encoded_len(b.size(), sodium_base64_VARIANT_ORIGINAL);  // with the NUL
  const std::size_t at = out.size();
  out.resize(at + 1 + len);
  out[at] = '"';
  sodium_bin2base64(out.data() + at + 1, len, b.data(), b.size(), sodium_base64_VARIANT_ORIGINAL);
  out.back() = '"';  // replaces the NUL terminator
}

void appendValue(std::string& out, const Value& v) {
  switch (v.kind()) {
    case Kind::Null: out += "null"; return;
    case Kind::Integer: appendInt(out, v.asInt()); return;
    case Kind::Real: appendDouble(out, v.asReal()); return;
    case Kind::Boolean: out += v.asBool() ? "true" : "false"; return;
    case Kind::Text: appendEscaped(out, v.asText()); return;
    case Kind::Json: out += v.asJson(); return;  // stored JSON was verified well-formed: spliced in as is
    case Kind::Blob: appendBase64(out, v.asBlob()); return;
    case Kind::File:
      out += "{\"hash\":";
      appendEscaped(out, v.asFile().hash);
      out += ",\"size\":";
      appendInt(out, v.asFile().size);
      out += ",\"mime\":";
      appendEscaped(out, v.asFile().mime);
      out.push_back('}');
      return;
  }
  out += "null";
}

void appendIdMap(std::string& out, const std::map<std::string, std::int64_t>& m) {
  out.push_back('{');
  bool first = true;
  for (const auto& [client, id] : m) {
    if (!first) out.push_back(',');
    first = false;
    appendKey(out, client);
    appendInt(out, id);
  }
  out.push_back('}');
}

// ---------------------------------------------------------------------------
// JSON reading
// ---------------------------------------------------------------------------

// The parsed body in an arena that lives as long as this object.
class Parsed {
 public:
  Parsed(std::string_view body, std::string_view message) : mr_(buffer_.data(), buffer_.size()) {
    json::error_code ec;
    value_ = parseJsonExact(body, ec, json::storage_ptr(&mr_), jsonParseOptions());
    if (ec) badRequest(std::string(message) + ": body is not valid JSON: " + ec.message());
  }
  const json::value& value() const noexcept { return value_; }

 private:
  std::array<unsigned char, 4096> buffer_;
  json::monotonic_resource mr_;
  json::value value_;
};

std::string describe(const json::value& v) {
  switch (v.kind()) {
    case json::kind::object: return "an object";
    case json::kind::array: return "an array";
    case json::kind::string: return detail::quoted(v.get_string());
    default: {
      std::string s = json::serialize(v);
      if (s.size() > 64) s = s.substr(0, 64) + "...";
      return s;
    }
  }
}

[[noreturn]] void typeError(const Where& w, std::string_view field, std::string_view expected, const json::value& got) {
  badRequest(w.field(field) + " must be " + std::string(expected) + ", got " + describe(got));
}

// An integral JSON number in [lo, hi]; 1.0 counts as integral, "1" does not.
template <class Int>
bool integral(const json::value& v, Int lo, Int hi, Int* out) {
  switch (v.kind()) {
    case json::kind::int64: {
      const std::int64_t x = v.get_int64();
      if constexpr (std::is_signed_v<Int>) {
        if (x < lo || x > hi) return false;
      } else {
        if (x < 0 || static_cast<std::uint64_t>(x) < lo || static_cast<std::uint64_t>(x) > hi) return false;
      }
      *out = static_cast<Int>(x);
      return true;
    }
    case json::kind::uint64: {
      const std::uint64_t x = v.get_uint64();
      if (lo > 0 && x < static_cast<std::uint64_t>(lo)) return false;
      if (x > static_cast<std::uint64_t>(hi)) return false;
      *out = static_cast<Int>(x);
      return true;
    }
    case json::kind::double_: {
      const double d = v.get_double();
      // 2^63 and 2^64 are exact doubles; the upper bounds are exclusive.
      const double limit = std::is_signed_v<Int> ? 9223372036854775808.0 : 18446744073709551616.0;
      if (!std::isfinite(d) || std::trunc(d) != d || d >= limit || d < static_cast<double>(lo)) return false;
      const Int x = static_cast<Int>(d);
      if (x < lo || x > hi) return false;
      *out = x;
      return true;
    }
    default: return false;
  }
}

// Field access with messages that name the field.
class Obj {
 public:
  Obj(const json::value& v, const Where& w, std::string_view self) : w_(w) {
    if (!v.is_object()) {
      if (!self.empty()) typeError(w, self, "an object", v);
      // The Where itself: the body, or one element of its array.
      std::string what = std::string(w.message) + ": ";
      what += w.array.empty() ? std::string("body") : std::string(w.array) + "[" + std::to_string(w.index) + "]";
      badRequest(what + " must be a JSON object, got " + describe(v));
    }
    o_ = &v.get_object();
  }
  const json::object& object() const noexcept { return *o_; }
  const json::value* find(std::string_view key) const {
    auto it = o_->find(key);
    return it == o_->end() ? nullptr : &it->value();
  }
  const json::value& required(std::string_view key) const {
    const json::value* v = find(key);
    if (v == nullptr) badRequest(w_.field(key) + " is required");
    return *v;
  }
  std::string_view string(std::string_view key) const {
    const json::value& v = required(key);
    if (!v.is_string()) typeError(w_, key, "a string", v);
    return v.get_string();
  }
  std::string_view optionalString(std::string_view key) const {
    const json::value* v = find(key);
    if (v == nullptr) return {};
    if (!v->is_string()) typeError(w_, key, "a string", *v);
    return v->get_string();
  }
  std::string id(std::string_view key) const {
    const std::string_view s = string(key);
    detail::checkId(w_, key, s);
    return std::string(s);
  }
  std::int64_t positive(std::string_view key) const {
    const json::value& v = required(key);
    std::int64_t x;
    if (!integral<std::int64_t>(v, 1, std::numeric_limits<std::int64_t>::max(), &x)) {
      typeError(w_, key, "a positive integer", v);
    }
    return x;
  }
  std::uint64_t unsignedInt(std::string_view key) const {
    const json::value& v = required(key);
    std::uint64_t x;
    if (!integral<std::uint64_t>(v, 0, std::numeric_limits<std::uint64_t>::max(), &x)) {
      typeError(w_, key, "a non-negative integer", v);
    }
    return x;
  }
  // pushVersion / pullVersion: checked before anything else, since a body
  // of another protocol version may be shaped differently.
  void protocolVersion(std::string_view key, std::string_view type) const {
    const json::value& v = required(key);
    std::int64_t x;
    if (!integral<std::int64_t>(v, std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(),
                                &x)) {
      typeError(w_, key, "an integer", v);
    }
    detail::checkProtocolVersion(type, x);
  }
  const Where& where() const noexcept { return w_; }

 private:
  const json::object* o_ = nullptr;
  const Where& w_;
};

std::map<std::string, std::int64_t> idMap(const Obj& parent, std::string_view key) {
  const json::value& v = parent.required(key);
  const Where& w = parent.where();
  if (!v.is_object()) typeError(w, key, "an object", v);
  std::map<std::string, std::int64_t> out;
  for (const auto& kv : v.get_object()) {
    const std::string field = std::string(key) + "." + std::string(kv.key());
    detail::checkId(w, field, kv.key());
    std::int64_t id;
    if (!integral<std::int64_t>(kv.value(), 0, std::numeric_limits<std::int64_t>::max(), &id)) {
      typeError(w, field, "a non-negative integer", kv.value());
    }
    out.emplace(std::string(kv.key()), id);
  }
  return out;
}

const json::array& arrayField(const Obj& parent, std::string_view key) {
  const json::value& v = parent.required(key);
  if (!v.is_array()) typeError(parent.where(), key, "an array", v);
  return v.get_array();
}

// ---- messages --------------------------------------------------------------------

PushRequest decodePushJson(std::string_view body) {
  // One reference-counted arena for the whole body, which the decoded
  // mutations' args keep alive: args then move out of the tree in O(1)
  // instead of being copied node by node into the default allocator.
  const json::storage_ptr arena = json::make_shared_resource<json::monotonic_resource>(body.size() * 2 + 1024);
  json::error_code ec;
  json::value tree = parseJsonExact(body, ec, arena, jsonParseOptions());
  if (ec) badRequest("push: body is not valid JSON: " + ec.message());

  const Where w{"push"};
  const Obj root(tree, w, {});
  root.protocolVersion("pushVersion", "push");
  PushRequest r;
  r.push_version = kPushVersion;
  r.profile_id = root.optionalString("profileID");
  detail::checkShortString(w, "profileID", r.profile_id);
  r.client_group_id = root.id("clientGroupID");
  r.schema_version = root.string("schemaVersion");
  detail::checkShortString(w, "schemaVersion", r.schema_version);
  const json::array& mutations = arrayField(root, "mutations");
  r.mutations.reserve(mutations.size());
  Where mw{"push", "mutations"};
  for (const json::value& mv : mutations) {
    const Obj m(mv, mw, "");
    std::string client_id = m.id("clientID");
    const std::int64_t id = m.positive("id");
    const std::string_view name = m.string("name");
    if (name.empty()) badRequest(mw.field("name") + " must be a non-empty string");
    detail::checkShortString(mw, "name", name);
    const json::value& ts = m.required("timestamp");
    if (!ts.is_number()) typeError(mw, "timestamp", "a number", ts);
    if (!std::isfinite(ts.to_number<double>())) badRequest(mw.field("timestamp") + " must be a finite number");
    // `tree` is ours and mutable; Obj only hands out const views of it.
    // Replicache omits args for a mutator called without arguments: null.
    auto* args = const_cast<json::value*>(m.find("args"));
    if (args) detail::requireFiniteNumbers(mw, "args", *args);
    r.mutations.push_back(Mutation{std::move(client_id), id, std::string(name),
                                   args ? json::value(std::move(*args)) : json::value(nullptr),
                                   ts.to_number<double>()});
    ++mw.index;
  }
  return r;
}

PullRequest decodePullJson(std::string_view body) {
  const Parsed parsed(body, "pull");
  const Where w{"pull"};
  const Obj root(parsed.value(), w, {});
  root.protocolVersion("pullVersion", "pull");
  PullRequest r;
  r.pull_version = kPullVersion;
  r.profile_id = root.optionalString("profileID");
  detail::checkShortString(w, "profileID", r.profile_id);
  r.client_group_id = root.id("clientGroupID");
  r.schema_version = root.string("schemaVersion");
  detail::checkShortString(w, "schemaVersion", r.schema_version);
  const json::value* cookie = root.find("cookie");
  if (cookie != nullptr && !cookie->is_null()) {
    std::uint64_t c;
    if (!integral<std::uint64_t>(*cookie, 0, std::numeric_limits<std::uint64_t>::max(), &c)) {
      typeError(w, "cookie", "null or a non-negative integer", *cookie);
    }
    r.cookie = c;
  }
  return r;
}

// The body is an error body: throw what it says.
[[noreturn]] void throwError(const json::object& o) {
  const json::value& e = o.at("error");
  const std::string name = e.is_string() ? std::string(e.get_string()) : json::serialize(e);
  std::string message;
  if (auto it = o.find("message"); it != o.end() && it->value().is_string()) message = it->value().get_string();
  std::string version_type;
  if (auto it = o.find("versionType"); it != o.end() && it->value().is_string()) {
    version_type = it->value().get_string();
  }
  const SyncErrorKind kind = kindFromName(name);
  if (kind == SyncErrorKind::Internal && name != "Internal") {
    message = "server error " + detail::quoted(name) + (message.empty() ? "" : ": " + message);
  }
  if (message.empty()) message = name;
  throw SyncError(kind, std::move(message), std::move(version_type));
}

void throwIfError(const json::value& v) {
  if (v.is_object() && v.get_object().contains("error")) throwError(v.get_object());
}

MutationOutcome outcomeFromName(const Where& w, const json::value& v) {
  if (v.is_string()) {
    for (auto o : {MutationOutcome::Applied, MutationOutcome::Failed, MutationOutcome::Skipped,
                   MutationOutcome::Deferred, MutationOutcome::Rejected}) {
      if (detail::outcomeName(o) == v.get_string()) return o;
    }
  }
  typeError(w, "outcome", "one of \"applied\", \"failed\", \"skipped\", \"deferred\", \"rejected\"", v);
}

PushResponse decodePushResponseJson(std::string_view body) {
  const Parsed parsed(body, "push response");
  throwIfError(parsed.value());
  const Where w{"push response"};
  const Obj root(parsed.value(), w, {});
  PushResponse r;
  Where rw{"push response", "results"};
  for (const json::value& v : arrayField(root, "results")) {
    const Obj o(v, rw, "");
    MutationResult m;
    m.client_id = o.id("clientID");
    m.id = o.positive("id");
    m.outcome = outcomeFromName(rw, o.required("outcome"));
    m.error = o.optionalString("error");
    m.message = o.optionalString("message");
    if (!detail::validUtf8(m.error) || !detail::validUtf8(m.message)) badRequest(rw.field("error") + " is not UTF-8");
    r.results.push_back(std::move(m));
    ++rw.index;
  }
  r.last_mutation_ids = idMap(root, "lastMutationIDs");
  r.version = root.unsignedInt("version");
  return r;
}

WirePullResponse decodePullResponseJson(std::string_view body) {
  const Parsed parsed(body, "pull response");
  throwIfError(parsed.value());
  const Where w{"pull response"};
  const Obj root(parsed.value(), w, {});
  WirePullResponse r;
  r.cookie = root.unsignedInt("cookie");
  r.last_mutation_id_changes = idMap(root, "lastMutationIDChanges");
  const json::array& patch = arrayField(root, "patch");
  r.patch.reserve(patch.size());
  Where pw{"pull response", "patch"};
  for (const json::value& v : patch) {
    const Obj o(v, pw, "");
    WirePatchOp op;
    const std::string_view kind = o.string("op");
    if (kind == "clear") {
      op.op = PatchOpKind::Clear;
    } else if (kind == "put" || kind == "del") {
      op.op = kind == "put" ? PatchOpKind::Put : PatchOpKind::Del;
      const std::string_view key = o.string("key");
      const std::size_t slash = key.find('/');
      if (slash == 0 || slash == std::string_view::npos || slash + 1 == key.size()) {
        badRequest(pw.field("key") + " must be \"<table>/<id>\", got " + detail::quoted(key));
      }
      op.table = key.substr(0, slash);
      op.id = key.substr(slash + 1);
      if (op.op == PatchOpKind::Put) {
        const json::value& value = o.required("value");
        if (!value.is_object()) typeError(pw, "value", "an object", value);
        op.value = json::object(value.get_object(), json::storage_ptr());
      }
    } else {
      badRequest(pw.field("op") + " must be \"clear\", \"put\" or \"del\", got " + detail::quoted(kind));
    }
    r.patch.push_back(std::move(op));
    ++pw.index;
  }
  if (const json::value* more = root.find("more")) {
    if (!more->is_bool()) typeError(w, "more", "a boolean", *more);
    r.more = more->get_bool();
  }
  return r;
}

Poke decodePokeJson(std::string_view body) {
  const Parsed parsed(body, "poke");
  const Where w{"poke"};
  const Obj root(parsed.value(), w, {});
  if (root.string("type") != "poke") badRequest("poke: type must be \"poke\", got " + detail::quoted(root.string("type")));
  Poke p;
  p.room = root.string("room");
  detail::checkShortString(w, "room", p.room);
  p.version = root.unsignedInt("version");
  return p;
}

Presence decodePresenceJson(std::string_view body) {
  const Parsed parsed(body, "presence");
  const Where w{"presence"};
  const Obj root(parsed.value(), w, {});
  if (root.string("type") != "presence") {
    badRequest("presence: type must be \"presence\", got " + detail::quoted(root.string("type")));
  }
  Presence p;
  p.room = root.string("room");
  detail::checkShortString(w, "room", p.room);
  Where cw{"presence", "clients"};
  for (const json::value& v : arrayField(root, "clients")) {
    const Obj o(v, cw, "");
    PresenceEntry e;
    e.client_id = o.id("clientID");
    if (const json::value* info = o.find("userInfo")) {
      detail::requireFiniteNumbers(cw, "userInfo", *info);
      e.user_info = json::value(*info, json::storage_ptr());
    }
    p.clients.push_back(std::move(e));
    ++cw.index;
  }
  return p;
}

// ---- encoders ---------------------------------------------------------------------

std::string encodePushRequestJson(const PushRequest& r) {
  std::string out;
  out.reserve(128 + r.mutations.size() * 128);
  out += "{\"profileID\":";
  appendEscaped(out, r.profile_id);
  out += ",\"clientGroupID\":";
  appendEscaped(out, r.client_group_id);
  out += ",\"mutations\":[";
  for (std::size_t i = 0; i < r.mutations.size(); ++i) {
    const Mutation& m = r.mutations[i];
    if (i) out.push_back(',');
    out += "{\"clientID\":";
    appendEscaped(out, m.client_id);
    out += ",\"id\":";
    appendInt(out, m.id);
    out += ",\"name\":";
    appendEscaped(out, m.name);
    out += ",\"args\":";
    appendJson(out, m.args);
    out += ",\"timestamp\":";
    appendDouble(out, m.timestamp);
    out.push_back('}');
  }
  out += "],\"pushVersion\":";
  appendInt(out, r.push_version);
  out += ",\"schemaVersion\":";
  appendEscaped(out, r.schema_version);
  out.push_back('}');
  return out;
}

std::string encodePullRequestJson(const PullRequest& r) {
  std::string out;
  out.reserve(160);
  out += "{\"profileID\":";
  appendEscaped(out, r.profile_id);
  out += ",\"clientGroupID\":";
  appendEscaped(out, r.client_group_id);
  out += ",\"cookie\":";
  if (r.cookie) {
    appendInt(out, *r.cookie);
  } else {
    out += "null";
  }
  out += ",\"pullVersion\":";
  appendInt(out, r.pull_version);
  out += ",\"schemaVersion\":";
  appendEscaped(out, r.schema_version);
  out.push_back('}');
  return out;
}

std::string encodePushResponseJson(const PushResponse& r) {
  std::string out;
  out.reserve(64 + r.last_mutation_ids.size() * 48);
  out += "{\"results\":[";
  bool first = true;
  for (const MutationResult& m : r.results) {
    if (m.outcome == MutationOutcome::Applied) continue;  // see codec.hpp
    if (!first) out.push_back(',');
    first = false;
    out += "{\"clientID\":";
    appendEscaped(out, m.client_id);
    out += ",\"id\":";
    appendInt(out, m.id);
    out += ",\"outcome\":\"";
    out += detail::outcomeName(m.outcome);
    out.push_back('"');
    if (!m.error.empty()) {
      out += ",\"error\":";
      appendEscaped(out, m.error);
    }
    if (!m.message.empty()) {
      out += ",\"message\":";
      appendEscaped(out, m.message);
    }
    out.push_back('}');
  }
  out += "],\"lastMutationIDs\":";
  appendIdMap(out, r.last_mutation_ids);
  out += ",\"version\":";
  appendInt(out, r.version);
  out.push_back('}');
  return out;
}

// Writes the characters of `s` escaped for a JSON string (no quotes) at
// `p`, which has room for 6 * s.size() bytes (the worst case, \u00XX);
// returns the end. Eight bytes at a time while none needs escaping.
char* writeEscapedBody(char* p, std::string_view s) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  const char* d = s.data();
  const std::size_t n = s.size();
  std::size_t i = 0;
#if defined(__SSE2__)
  // 16 bytes at a time (SSE2, in every x86-64): a control character, a
  // quote or a backslash stops the fast copy.
  const __m128i below = _mm_set1_epi8(0x1f), quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
  auto clean16 = [&](const char* at) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
    const __m128i hits = _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(v, below), below),
                                      _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    return _mm_movemask_epi8(hits) == 0;
  };
  for (; i + 16 <= n; i += 16) {
    if (!clean16(d + i)) break;
    std::memcpy(p, d + i, 16);
    p += 16;
  }
  if (i < n && n >= 16 && i + 16 > n && clean16(d + n - 16)) {
    // The tail, as the last 16 bytes (overlapping what was copied).
    std::memcpy(p - (i - (n - 16)), d + n - 16, 16);
    return p + (n - i);
  }
#else
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, d + i, 8);
    if (needsEscape8(w)) break;
    std::memcpy(p, &w, 8);
    p += 8;
  }
#endif
  for (; i < n; ++i) {
    const auto c = static_cast<unsigned char>(d[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      *p++ = static_cast<char>(c);
      continue;
    }
    *p++ = '\\';
    switch (c) {
      case '"': *p++ = '"'; break;
      case '\\': *p++ = '\\'; break;
      case '\n': *p++ = 'n'; break;
      case '\r': *p++ = 'r'; break;
      case '\t': *p++ = 't'; break;
      case '\b': *p++ = 'b'; break;
      case '\f': *p++ = 'f'; break;
      default:
        std::memcpy(p, "u00", 3);
        p[3] = kHex[c >> 4];
        p[4] = kHex[c & 15];
        p += 5;
    }
  }
  return p;
}

// The pull response is the hot path of the read side: written through a
// RawOut (sync/raw_out.hpp), each item reserving its worst case first, with
// per-table fragments (`{"op":"put","key":"todos/`, `"title":`) built once
// per call.
using detail::RawOut;

// The characters of `s` escaped for a JSON string, without quotes.
void putEscapedBody(RawOut& out, std::string_view s) { out.advance(writeEscapedBody(out.need(6 * s.size()), s)); }
void putEscaped(RawOut& out, std::string_view s) {
  out.put('"');
  putEscapedBody(out, s);
  out.put('"');
}

// Kinds written straight from the stored row (no formatting aside).
bool plainKind(Kind k) noexcept {
  return k == Kind::Text || k == Kind::Integer || k == Kind::Boolean || k == Kind::Json;
}

struct TableFragments {
  const TableSpec* spec = nullptr;
  std::string put_prefix;  // {"op":"put","key":"<table>/
  std::string del_prefix;  // {"op":"del","key":"<table>/
  std::vector<std::string> keys;  // per column: "name": (with a leading comma after the first)
  // Every column is text, integer, boolean or JSON: a row is written with
  // one bounds check, at most `row_fixed` bytes plus 6 per byte of the row.
  bool plain = true;
  std::size_t row_fixed = 2;
};

const TableFragments& fragmentsFor(std::vector<TableFragments>& cache, const TableSpec& spec) {
  for (const auto& f : cache) {
    if (f.spec == &spec) return f;
  }
  TableFragments f;
  f.spec = &spec;
  std::string table;
  appendEscaped(table, spec.name);
  table.pop_back();  // keep the opening quote, drop the closing one
  f.put_prefix = "{\"op\":\"put\",\"key\":" + table + "/";
  f.del_prefix = "{\"op\":\"del\",\"key\":" + table + "/";
  for (std::uint32_t i = 0; i < spec.columns.size(); ++i) {
    std::string k = i ? "," : "";
    appendKey(k, spec.columns[i].name);
    f.row_fixed += k.size() + 24;  // an integer's digits, "null", two quotes
    f.keys.push_back(std::move(k));
    f.plain = f.plain && plainKind(spec.columns[i].kind());
  }
  cache.push_back(std::move(f));
  return cache.back();
}

// Writes a row of a table whose columns are all plain
// (TableFragments::plain) at `p`, which has room for rowBound(f, row)
// bytes; returns the end.
std::size_t rowBound(const TableFragments& f, const RowView& row) noexcept {
  return f.row_fixed + 6 * row.bytes().size();
}

// Writes column `i` (of a plain kind) of `row` at `p`, which has room for
// 24 bytes plus 6 per byte of the row; returns the end.
char* writePlainColumn(char* p, const RowView& row, std::uint32_t i, Kind kind) {
  auto text = [&p](std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  switch (kind) {
    case Kind::Text: {
      std::string_view v;
      if (row.textAt(i, &v)) {
        *p++ = '"';
        p = writeEscapedBody(p, v);
        *p++ = '"';
      } else {
        text("null");
      }
      break;
    }
    case Kind::Integer: {
      std::int64_t v = 0;
      if (row.intAt(i, &v)) {
        p = detail::writeInt(p, v);
      } else {
        text("null");
      }
      break;
    }
    case Kind::Boolean: {
      const auto v = row.getBool(i);
      text(v ? (*v ? std::string_view("true") : std::string_view("false")) : std::string_view("null"));
      break;
    }
    default: {  // Json: stored as its text
      std::string_view v;
      text(row.textAt(i, &v) ? v : std::string_view("null"));
      break;
    }
  }
  return p;
}

// Writes a row of a table whose columns are all plain
// (TableFragments::plain) at `p`, which has room for rowBound(f, row)
// bytes; returns the end.
char* writePlainRow(char* p, const TableFragments& f, const RowView& row) {
  const TableSpec& spec = *f.spec;
  *p++ = '{';
  for (std::uint32_t i = 0; i < spec.columns.size(); ++i) {
    std::memcpy(p, f.keys[i].data(), f.keys[i].size());
    p = writePlainColumn(p + f.keys[i].size(), row, i, spec.columns[i].kind());
  }
  *p++ = '}';
  return p;
}

void putRow(RawOut& out, const TableFragments& f, const RowView& row) {
  if (f.plain) {
    out.advance(writePlainRow(out.need(rowBound(f, row)), f, row));
    return;
  }
  // Blobs, files and the like are formatted aside; plain columns as above.
  const TableSpec& spec = *f.spec;
  out.put('{');
  for (std::uint32_t i = 0; i < spec.columns.size(); ++i) {
    out.put(f.keys[i]);
    const Kind kind = spec.columns[i].kind();
    if (plainKind(kind)) {
      out.advance(writePlainColumn(out.need(24 + 6 * row.bytes().size()), row, i, kind));
    } else {
      std::string tmp;
      appendValue(tmp, row.get(i));
      out.put(tmp);
    }
  }
  out.put('}');
}

std::string encodePullResponseJson(const PullResponseView& r) {
  std::size_t estimate = 64 + r.last_mutation_id_changes.size() * 48;
  for (const PatchOpView& op : r.patch) {
    estimate += 48 + op.table.size() + op.id.size() + (op.row ? op.row->bytes().size() * 2 : 0);
  }
  RawOut out(estimate);
  out.put("{\"cookie\":");
  out.putInt(r.cookie);
  out.put(",\"lastMutationIDChanges\":{");
  for (std::size_t i = 0; i < r.last_mutation_id_changes.size(); ++i) {
    if (i) out.put(',');
    putEscaped(out, r.last_mutation_id_changes[i].first);
    out.put(':');
    out.putInt(r.last_mutation_id_changes[i].second);
  }
  out.put("},\"patch\":[");
  std::vector<TableFragments> fragments;
  for (std::size_t i = 0; i < r.patch.size(); ++i) {
    const PatchOpView& op = r.patch[i];
    if (i) out.put(',');
    if (op.op == PatchOpKind::Clear) {
      out.put("{\"op\":\"clear\"}");
      continue;
    }
    const TableFragments* f = nullptr;
    if (op.row) {
      f = &fragmentsFor(fragments, op.row->table());
      if (f->spec->name != op.table) f = nullptr;
    }
    if (f != nullptr && f->plain && op.op == PatchOpKind::Put) {
      // The common case in one piece: prefix, id, value.
      constexpr std::string_view kValue = "\",\"value\":";
      const std::string& prefix = f->put_prefix;
      char* p = out.need(prefix.size() + 6 * op.id.size() + kValue.size() + rowBound(*f, *op.row) + 1);
      std::memcpy(p, prefix.data(), prefix.size());
      p = writeEscapedBody(p + prefix.size(), op.id);
      std::memcpy(p, kValue.data(), kValue.size());
      p = writePlainRow(p + kValue.size(), *f, *op.row);
      *p++ = '}';
      out.advance(p);
      continue;
    }
    if (f != nullptr) {
      out.put(op.op == PatchOpKind::Put ? f->put_prefix : f->del_prefix);
    } else {
      // The key is one JSON string "<table>/<id>".
      out.put(op.op == PatchOpKind::Put ? "{\"op\":\"put\",\"key\":\"" : "{\"op\":\"del\",\"key\":\"");
      putEscapedBody(out, op.table);
      out.put('/');
    }
    putEscapedBody(out, op.id);
    out.put('"');
    if (op.op == PatchOpKind::Put) {
      if (!op.row) {
        throw SyncError(SyncErrorKind::Internal, "pull: patch[" + std::to_string(i) + "] is a put without a row");
      }
      out.put(",\"value\":");
      putRow(out, fragmentsFor(fragments, op.row->table()), *op.row);
    }
    out.put('}');
  }
  out.put(']');
  if (r.more) out.put(",\"more\":true");
  out.put('}');
  return out.take();
}

std::string encodePokeJson(const Poke& p) {
  std::string out = "{\"type\":\"poke\",\"room\":";
  appendEscaped(out, p.room);
  out += ",\"version\":";
  appendInt(out, p.version);
  out.push_back('}');
  return out;
}

std::string encodePresenceJson(const Presence& p) {
  std::string out = "{\"type\":\"presence\",\"room\":";
  appendEscaped(out, p.room);
  out += ",\"clients\":[";
  for (std::size_t i = 0; i < p.clients.size(); ++i) {
    if (i) out.push_back(',');
    out += "{\"clientID\":";
    appendEscaped(out, p.clients[i].client_id);
    out += ",\"userInfo\":";
    appendJson(out, p.clients[i].user_info);
    out.push_back('}');
  }
  out += "]}";
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

PushRequest decodePush(Encoding e, std::string_view body) {
  return e == Encoding::Json ? decodePushJson(body) : detail::decodePushFbs(body);
}

PullRequest decodePull(Encoding e, std::string_view body) {
  return e == Encoding::Json ? decodePullJson(body) : detail::decodePullFbs(body);
}

PullRequest pullFromQuery(const std::vector<std::pair<std::string, std::string>>& params) {
  const Where w{"pull"};
  const std::string* group = nullptr;
  const std::string* cookie = nullptr;
  const std::string* schema = nullptr;
  const std::string* profile = nullptr;
  const std::string* version = nullptr;
  for (const auto& [key, value] : params) {
    const std::string** slot = key == "clientGroupID"   ? &group
                               : key == "cookie"        ? &cookie
                               : key == "schemaVersion" ? &schema
                               : key == "profileID"     ? &profile
                               : key == "pullVersion"   ? &version
                                                        : nullptr;
    if (slot == nullptr) continue;
    if (*slot != nullptr) badRequest("pull: query parameter " + key + " is given more than once");
    *slot = &value;
  }
  // Parses a decimal integer made of digits only (no sign, no spaces).
  const auto decimal = [](const std::string& s, std::uint64_t* out) {
    if (s.empty()) return false;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size() && s.front() != '+' && s.front() != '-';
  };
  if (version != nullptr) {
    std::uint64_t v;
    if (!decimal(*version, &v)) badRequest("pull: pullVersion must be an integer, got " + detail::quoted(*version));
    detail::checkProtocolVersion("pull", static_cast<std::int64_t>(std::min<std::uint64_t>(v, INT64_MAX)));
  }
  PullRequest r;
  r.pull_version = kPullVersion;
  if (group == nullptr) badRequest("pull: clientGroupID is required");
  detail::checkId(w, "clientGroupID", *group);
  r.client_group_id = *group;
  if (profile != nullptr) {
    detail::checkShortString(w, "profileID", *profile);
    r.profile_id = *profile;
  }
  if (schema != nullptr) {
    detail::checkShortString(w, "schemaVersion", *schema);
    r.schema_version = *schema;
  }
  if (cookie != nullptr && !cookie->empty() && *cookie != "null") {
    std::uint64_t c;
    if (!decimal(*cookie, &c)) {
      badRequest("pull: cookie must be null or a non-negative integer, got " + detail::quoted(*cookie));
    }
    r.cookie = c;
  }
  return r;
}

std::string encodePushResponse(Encoding e, const PushResponse& r) {
  return e == Encoding::Json ? encodePushResponseJson(r) : detail::encodePushResponseFbs(r);
}

std::string encodePullResponse(Encoding e, const PullResponseView& r) {
  return e == Encoding::Json ? encodePullResponseJson(r) : detail::encodePullResponseFbs(r);
}

std::string encodePullResponse(Encoding e, const PullResponse& r) {
  PullResponseView v;
  v.cookie = r.cookie;
  v.more = r.more;
  v.last_mutation_id_changes.reserve(r.last_mutation_id_changes.size());
  for (const auto& [client, id] : r.last_mutation_id_changes) v.last_mutation_id_changes.emplace_back(client, id);
  v.patch.reserve(r.patch.size());
  for (const PatchOp& op : r.patch) {
    PatchOpView o(op.op, op.table, op.id);
    if (op.row) o.row = op.row->view();
    v.patch.push_back(o);
  }
  return encodePullResponse(e, v);
}

std::string encodeErrorJson(const SyncError& e) {
  std::string out = "{\"error\":";
  appendEscaped(out, kindName(e.kind()));
  if (e.kind() == SyncErrorKind::VersionNotSupported && !e.versionType().empty()) {
    out += ",\"versionType\":";
    appendEscaped(out, e.versionType());
  }
  out += ",\"message\":";
  // Messages may quote request bytes; keep the body valid JSON regardless:
  // a message that is not UTF-8 has its non-ASCII bytes read as Latin-1.
  const std::string_view message = e.what();
  if (detail::validUtf8(message)) {
    appendEscaped(out, message);
  } else {
    std::string latin1;
    for (const char c : message) {
      const auto b = static_cast<unsigned char>(c);
      if (b < 0x80) {
        latin1.push_back(c);
      } else {
        latin1.push_back(static_cast<char>(0xC0 | (b >> 6)));
        latin1.push_back(static_cast<char>(0x80 | (b & 0x3F)));
      }
    }
    appendEscaped(out, latin1);
  }
  out.push_back('}');
  return out;
}

void throwErrorJson(std::string_view body) {
  const Parsed parsed(body, "error body");
  throwIfError(parsed.value());
  badRequest("error body: no \"error\" field");
}

std::string encodePushRequest(Encoding e, const PushRequest& r) {
  return e == Encoding::Json ? encodePushRequestJson(r) : detail::encodePushRequestFbs(r);
}

std::string encodePullRequest(Encoding e, const PullRequest& r) {
  return e == Encoding::Json ? encodePullRequestJson(r) : detail::encodePullRequestFbs(r);
}

PushResponse decodePushResponse(Encoding e, std::string_view body) {
  return e == Encoding::Json ? decodePushResponseJson(body) : detail::decodePushResponseFbs(body);
}

WirePullResponse decodePullResponse(Encoding e, std::string_view body) {
  return e == Encoding::Json ? decodePullResponseJson(body) : detail::decodePullResponseFbs(body);
}

std::string encodePoke(Encoding e, const Poke& p) {
  return e == Encoding::Json ? encodePokeJson(p) : detail::encodePokeFbs(p);
}

Poke decodePoke(Encoding e, std::string_view body) {
  return e == Encoding::Json ? decodePokeJson(body) : detail::decodePokeFbs(body);
}

std::string encodePresence(Encoding e, const Presence& p) {
  return e == Encoding::Json ? encodePresenceJson(p) : detail::encodePresenceFbs(p);
}

Presence decodePresence(Encoding e, std::string_view body) {
  return e == Encoding::Json ? decodePresenceJson(body) : detail::decodePresenceFbs(body);
}

bool allNumbersFinite(const json::value& v) noexcept { return plasma::detail::jsonNumbersFinite(v); }

json::parse_options jsonParseOptions() noexcept {
  json::parse_options o;
  o.max_depth = kMaxJsonDepth;
  return o;
}

std::size_t jsonDepth(const json::value& v) {
  // Iterative: the parser bounds the depth, but a wide value must not recurse per element.
  std::size_t deepest = 0;
  std::vector<std::pair<const json::value*, std::size_t>> pending{{&v, 0}};
  while (!pending.empty()) {
    const auto [x, around] = pending.back();
    pending.pop_back();
    if (x->is_array()) {
      deepest = std::max(deepest, around + 1);
      for (const json::value& e : x->get_array()) pending.emplace_back(&e, around + 1);
    } else if (x->is_object()) {
      deepest = std::max(deepest, around + 1);
      for (const auto& kv : x->get_object()) pending.emplace_back(&kv.value(), around + 1);
    }
  }
  return deepest;
}

}  // namespace plasma::sync
