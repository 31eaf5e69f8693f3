// tests/test_util.hpp — helpers shared by the test suite.
//
// - TempDir: a fresh directory per test under the system temp directory,
//   removed (recursively) when the test ends.
// - expectError: runs a callable and requires a plasma::Error of a given code
//   whose message mentions every given fragment.
// - captureState: every row of the given tables (decoded column values and
//   stored bytes), the head version and the change-log size, so an error test
//   can require the database to be unchanged.
#pragma once

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include <plasma/plasma.hpp>

namespace plasma_test {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    static std::atomic<std::uint64_t> counter{0};
    std::random_device rd;
    const fs::path base = fs::temp_directory_path();
    for (;;) {
      std::ostringstream name;
      name << "plasma-test-" << ::getpid() << '-' << counter.fetch_add(1) << '-' << std::hex << rd();
      fs::path candidate = base / name.str();
      if (fs::create_directory(candidate)) {
        path_ = std::move(candidate);
        break;
      }
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }

  const fs::path& path() const noexcept { return path_; }
  fs::path operator/(std::string_view name) const { return path_ / name; }

 private:
  fs::path path_;
};

// Options for tests where durability is not what is tested.
inline plasma::OpenOptions fastOptions() {
  plasma::OpenOptions o;
  o.map_size_bytes = std::size_t{256} << 20;
  o.durability = plasma::Durability::NoSync;
  return o;
}

// Thrown inside db.write to roll a transaction back on purpose.
struct Rollback {};

inline std::string renderValue(const plasma::Value& v) {
  using plasma::Kind;
  switch (v.kind()) {
    case Kind::Null: return "NULL";
    case Kind::Integer: return std::to_string(v.asInt());
    case Kind::Real: return std::to_string(v.asReal());
    case Kind::Boolean: return v.asBool() ? "true" : "false";
    case Kind::Text: return '"' + v.asText() + '"';
    case Kind::Blob: return "blob[" + std::to_string(v.asBlob().size()) + "]";
    case Kind::Json: return "json " + v.asJson();
    case Kind::File: return "file{" + v.asFile().hash + "," + std::to_string(v.asFile().size) + "," + v.asFile().mime + "}";
  }
  return "?";
}

inline std::string_view codeName(plasma::ErrorCode c) { return plasma::errorCodeName(c); }

// Runs f and returns the plasma::Error it threw (nullopt when it threw none).
// Other exceptions propagate, so a test fails loudly on them.
template <class F>
std::optional<plasma::Error> catchError(F&& f) {
  try {
    f();
  } catch (const plasma::Error& e) {
    return e;
  }
  return std::nullopt;
}

// Requires f to throw plasma::Error with `code` and a message mentioning
// every fragment of `mentions`. Returns the error for further checks.
template <class F>
plasma::Error expectError(F&& f, plasma::ErrorCode code, std::initializer_list<std::string_view> mentions = {}) {
  std::optional<plasma::Error> err;
  std::string other;
  try {
    f();
  } catch (const plasma::Error& e) {
    err = e;
  } catch (const std::exception& e) {
    other = std::string("a non-plasma exception: ") + e.what();
  }
  INFO("expected plasma::Error " << codeName(code) << (other.empty() ? "" : ", got ") << other);
  REQUIRE(err.has_value());
  INFO("message: " << err->what());
  CHECK(codeName(err->code()) == codeName(code));
  for (std::string_view m : mentions) {
    CHECK_THAT(std::string(err->what()), Catch::Contains(std::string(m)));
  }
  return *err;
}

using RowValues = std::vector<plasma::Value>;

inline RowValues rowValues(const plasma::RowView& row) {
  RowValues out;
  const auto n = static_cast<std::uint32_t>(row.table().columns.size());
  out.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) out.push_back(row.get(i));
  return out;
}

inline std::string renderRow(const RowValues& row) {
  std::string s = "(";
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (i) s += ", ";
    s += renderValue(row[i]);
  }
  return s + ")";
}

// id -> column values
using TableState = std::map<std::string, RowValues>;

inline TableState tableState(const plasma::ReadTx& tx, const plasma::Table& t) {
  TableState out;
  tx.scan(t, [&](const plasma::RowView& r) {
    out.emplace(std::string(r.id()), rowValues(r));
    return true;
  });
  return out;
}

inline TableState tableState(const plasma::Database& db, const plasma::Table& t) {
  return db.read([&](const plasma::ReadTx& tx) { return tableState(tx, t); });
}

inline std::vector<std::string> idsOf(const plasma::ReadTx& tx, const plasma::Table& t) {
  std::vector<std::string> out;
  tx.scan(t, [&](const plasma::RowView& r) {
    out.emplace_back(r.id());
    return true;
  });
  return out;
}

inline std::vector<std::string> idsOf(const plasma::Database& db, const plasma::Table& t) {
  return db.read([&](const plasma::ReadTx& tx) { return idsOf(tx, t); });
}

inline std::vector<std::string> idsOf(const std::vector<plasma::OwnedRow>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.emplace_back(r.id());
  return out;
}

struct DbState {
  std::map<std::string, TableState> tables;      // table -> id -> values
  std::map<std::string, std::map<std::string, std::string>> bytes;  // table -> id -> stored bytes
  std::uint64_t head = 0;
  std::size_t log_entries = 0;
  friend bool operator==(const DbState&, const DbState&) = default;
};

inline DbState captureState(const plasma::Database& db,
                            std::initializer_list<std::reference_wrapper<const plasma::Table>> tables) {
  DbState s;
  db.read([&](const plasma::ReadTx& tx) {
    for (const plasma::Table& t : tables) {
      auto& rows = s.tables[t.name()];
      auto& bytes = s.bytes[t.name()];
      tx.scan(t, [&](const plasma::RowView& r) {
        rows.emplace(std::string(r.id()), rowValues(r));
        bytes.emplace(std::string(r.id()),
                      std::string(reinterpret_cast<const char*>(r.bytes().data()), r.bytes().size()));
        return true;
      });
    }
  });
  s.head = db.headVersion();
  s.log_entries = db.logEntries(0).size();
  return s;
}

inline std::string renderState(const DbState& s) {
  std::ostringstream o;
  o << "head=" << s.head << " log=" << s.log_entries;
  for (const auto& [t, rows] : s.tables) {
    o << "\n  " << t << ":";
    for (const auto& [id, vals] : rows) o << "\n    " << id << " " << renderRow(vals);
  }
  return o.str();
}

// The shortest text that reads back as exactly `d` (what JavaScript and
// Boost.JSON's serializer write).
inline std::string shortestDouble(double d) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

inline std::string str(std::span<const std::uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

}  // namespace plasma_test

namespace Catch {
template <>
struct StringMaker<plasma::Value> {
  static std::string convert(const plasma::Value& v) { return plasma_test::renderValue(v); }
};
template <>
struct StringMaker<plasma::ErrorCode> {
  static std::string convert(plasma::ErrorCode c) { return std::string(plasma_test::codeName(c)); }
};
template <>
struct StringMaker<plasma::ChangeOp> {
  static std::string convert(plasma::ChangeOp op) { return op == plasma::ChangeOp::Put ? "Put" : "Del"; }
};
template <>
struct StringMaker<plasma_test::DbState> {
  static std::string convert(const plasma_test::DbState& s) { return plasma_test::renderState(s); }
};
}  // namespace Catch
