// tests/query/query_test_util.hpp — helpers shared by the query executor
// tests (select, aggregate, join, subquery, planner, auth, errors).
#pragma once

#include <algorithm>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "test_util.hpp"

namespace qtest {

// A NULL rendered in string lists, so expectations can name it.
inline const std::string kNull = "<null>";

inline std::string textOf(const plasma::Value& v) {
  if (v.isNull()) return kNull;
  if (v.kind() == plasma::Kind::Text) return v.asText();
  return plasma_test::renderValue(v);
}

// One output column of a result, by name.
inline std::vector<plasma::Value> values(const plasma::QueryResult& r, std::string_view name) {
  std::vector<plasma::Value> out;
  for (const auto& row : r.rows) out.push_back(row[name]);
  return out;
}

// One output column rendered as strings (text verbatim, NULL as "<null>").
inline std::vector<std::string> texts(const plasma::QueryResult& r, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& row : r.rows) out.push_back(textOf(row[name]));
  return out;
}

inline std::multiset<std::string> textBag(const plasma::QueryResult& r, std::string_view name) {
  const auto t = texts(r, name);
  return {t.begin(), t.end()};
}

inline std::set<std::string> idSet(const std::vector<plasma::OwnedRow>& rows) {
  std::set<std::string> out;
  for (const auto& r : rows) out.insert(r.id());
  return out;
}

inline std::vector<std::string> idList(const std::vector<plasma::OwnedRow>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.id());
  return out;
}

// A whole result, for INFO().
inline std::string render(const plasma::QueryResult& r) {
  std::ostringstream o;
  o << "[";
  for (std::size_t i = 0; i < r.columns().size(); ++i) o << (i ? ", " : "") << r.columns()[i].name;
  o << "]";
  for (const auto& row : r.rows) o << "\n  " << plasma_test::renderRow(row.values());
  return o.str();
}

inline std::vector<std::string> columnNames(const plasma::QueryResult& r) {
  std::vector<std::string> out;
  for (const auto& c : r.columns()) out.push_back(c.name);
  return out;
}

inline bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

// The lines of an explain() text.
inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The first line of explain(): how the `from` source is read.
inline std::string accessLine(const std::string& explain) {
  const auto l = lines(explain);
  return l.empty() ? std::string() : l.front();
}

// "<ErrorCode>: <message>" of the plasma::Error f throws, or "no error"
// (for checks that must not stop the test case).
template <class F>
std::string errorOf(F&& f) {
  try {
    f();
  } catch (const plasma::Error& e) {
    return std::string(plasma::errorCodeName(e.code())) + ": " + e.what();
  }
  return "no error";
}

template <class T>
plasma::Value opt(const std::optional<T>& v) {
  return v ? plasma::Value(*v) : plasma::Value();
}

}  // namespace qtest
