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
    for (const auto& c : simple_) {
      if (!test(row, c)) return false;
    }
    return residual_.empty() || residualMatches(src);
  }
  bool empty() const noexcept { return simple_.empty() && residual_.empty(); }

 private:
  enum class Test : std::uint8_t { IntCmp, TextCmp, IsNull, IsNotNull };
  struct Simple {
    Test test;
    ExprOp op;
    std::uint32_t column;
    std::int64_t i = 0;
    std::string_view s;  // into the plan's literal or the bound parameter, which outlive the run
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
  static bool test(const RowView& row, const Simple& c) {
    switch (c.test) {
      case Test::IntCmp: {
        const auto v = row.getInt(c.column);
        return v && order(c.op, *v < c.i ? -1 : (*v > c.i ? 1 : 0));
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
  bool residualMatches(const ColumnSource& src) const;

  std::vector<Simple> simple_;
  std::vector<Expr> residual_;
};

}  // namespace plasma::query
