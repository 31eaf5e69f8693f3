// query/filter.hpp — a WHERE clause compiled for one table's rows.
//
// The conjuncts of the common shapes — column <op> constant (integer,
// boolean or text), isNull/isNotNull(column) — are turned into small
// records tested straight on the stored row, with no Value copies and no
// tree walk; the rest stays an expression evaluated generically. A row
// passes when every conjunct is true (SQL: false and unknown both reject).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "plasma/expr.hpp"
#include "plasma/row.hpp"
#include "query/eval.hpp"

namespace plasma::query {

class CompiledFilter {
 public:
  CompiledFilter() = default;
  // Compiles `e` (may be empty) for rows of `table`; `params` resolves parameters.
  // REQUIRES: `e` and `params` outlive the filter (text constants are viewed, not copied).
  CompiledFilter(const Expr& e, const TableSpec& table, const std::vector<Value>& params);

  // Whether the row passes; `src` evaluates the residual expression.
  bool matches(const RowView& row, const ColumnSource& src) const {
    return simpleMatches(row) && (residual_.empty() || residualMatches(src));
  }
  // The compiled tests alone (true when there are none).
  bool simpleMatches(const RowView& row) const {
    if (simple_.empty()) return true;
    if (&row.layout() != layout_) {  // not bound to this row's layout: the generic getters
      for (const auto& c : simple_) {
        if (!test(row, c)) return false;
      }
      return true;
    }
    // The row's table and vtable are located once for all the tests.
    const std::uint8_t* data = row.bytes().data();
    const std::uint8_t* table = data + detail::loadLe<std::uint32_t>(data);
    const std::uint8_t* vtable = table - detail::loadLe<std::int32_t>(table);
    const std::uint16_t vtable_size = detail::loadLe<std::uint16_t>(vtable);
    for (const auto& c : simple_) {
      if (!testInPlace(row, c, table, vtable, vtable_size)) return false;
    }
    return true;
  }
  // The residual expressions alone (true when there are none).
  bool residualMatchesAll(const ColumnSource& src) const { return residual_.empty() || residualMatches(src); }
  bool empty() const noexcept { return simple_.empty() && residual_.empty(); }
  // Conjuncts compiled to direct tests / left to the generic evaluator (tests).
  std::size_t simpleCount() const noexcept { return simple_.size(); }
  std::size_t residualCount() const noexcept { return residual_.size(); }

  // Resolves the tests' FlatBuffers vtable offsets for rows of `layout`
  // (the layout every row of the table read in this run has).
  void bindLayout(const detail::RowLayout& layout) noexcept;

 private:
  enum class Test : std::uint8_t { IntCmp, TextCmp, IsNull, IsNotNull };
  struct Simple {
    Test test;
    ExprOp op;
    std::uint32_t column;
    std::int64_t i = 0;
    std::string_view s;  // into the plan's literal or the bound parameter, which outlive the run
    std::uint16_t vt = 0;  // vtable offset of `column` in layout_ (bindLayout)
    bool id = false;       // `column` is the id column: the row's key, never NULL
  };
  static bool order(ExprOp op, int c) noexcept {
    switch (op) {
      case ExprOp::Eq: return c == 0;
      case ExprOp::Ne: return c != 0;
      case ExprOp::Gt: return c > 0;
      case ExprOp::Gte: return c >= 0;
      case ExprOp::Lt: return c < 0;
      case ExprOp::Lte: return c <= 0;
      default: return false;
    }
  }
  static bool orderInt(ExprOp op, std::int64_t v, std::int64_t k) noexcept {
    switch (op) {
      case ExprOp::Eq: return v == k;
      case ExprOp::Ne: return v != k;
      case ExprOp::Gt: return v > k;
      case ExprOp::Gte: return v >= k;
      case ExprOp::Lt: return v < k;
      case ExprOp::Lte: return v <= k;
      default: return false;
    }
  }
  static bool test(const RowView& row, const Simple& c) {
    switch (c.test) {
      case Test::IntCmp: {
        const auto v = row.getInt(c.column);
        return v && orderInt(c.op, *v, c.i);
      }
      case Test::TextCmp: {
        const auto v = row.getText(c.column);
        if (!v) return false;
        const int r = v->compare(c.s);
        return order(c.op, r < 0 ? -1 : (r > 0 ? 1 : 0));
      }
      case Test::IsNull: return row.get(c.column).isNull();
      case Test::IsNotNull: return !row.get(c.column).isNull();
    }
    return false;
  }
  // The same tests, reading the field straight from the FlatBuffers bytes
  // (root offset -> table -> vtable -> field, as RowView does) with no
  // std::optional or Value in between. A column added after the row was
  // written (beyond its vtable) takes the generic path for its fill value.
  static bool testInPlace(const RowView& row, const Simple& c, const std::uint8_t* table, const std::uint8_t* vtable,
                          std::uint16_t vtable_size) {
    if (c.id) {
      switch (c.test) {
        case Test::TextCmp: {
          const int r = row.id().compare(c.s);
          return order(c.op, r < 0 ? -1 : (r > 0 ? 1 : 0));
        }
        case Test::IsNull: return false;
        case Test::IsNotNull: return true;
        case Test::IntCmp: return test(row, c);
      }
    }
    if (c.vt >= vtable_size) return test(row, c);  // newer column: fill value
    const std::uint16_t off = detail::loadLe<std::uint16_t>(vtable + c.vt);
    switch (c.test) {
      case Test::IntCmp: return off != 0 && orderInt(c.op, detail::loadLe<std::int64_t>(table + off), c.i);
      case Test::TextCmp: {
        if (off == 0) return false;
        const std::uint8_t* field = table + off;
        const std::uint8_t* str = field + detail::loadLe<std::uint32_t>(field);
        const std::string_view v(reinterpret_cast<const char*>(str + 4), detail::loadLe<std::uint32_t>(str));
        const int r = v.compare(c.s);
        return order(c.op, r < 0 ? -1 : (r > 0 ? 1 : 0));
      }
      case Test::IsNull: return off == 0;
      case Test::IsNotNull: return off != 0;
    }
    return false;
  }
  bool residualMatches(const ColumnSource& src) const;
  void add(const Expr& term, const TableSpec& table, const std::vector<Value>& params);

  // Inline storage: a filter is compiled on every run of a query, and the
  // common ones (a point lookup, a couple of conditions) allocate nothing.
  boost::container::small_vector<Simple, 4> simple_;
  boost::container::small_vector<Expr, 2> residual_;
  const detail::RowLayout* layout_ = nullptr;
};

}  // namespace plasma::query
