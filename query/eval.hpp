// query/eval.hpp — evaluating expressions with SQLite's semantics.
//
// - A comparison with NULL on either side is Unknown.
// - and/or/not are three-valued (Kleene logic).
// - Integers, booleans (as 0/1) and reals compare numerically; text and json
//   compare bytewise (BINARY collation); blobs bytewise. Comparing values of
//   unrelated kinds (text with integer) is a TypeMismatch error naming the
//   column, because plasma's columns are strictly typed.
// - like: `%` matches any run of characters, `_` exactly one UTF-8
//   character, ASCII letters match regardless of case.
// - x IN (list): Unknown when x is NULL, or when there is no match and the
//   list holds a NULL.
#pragma once

#include <cstdint>
#include <string_view>

#include "plasma/expr.hpp"
#include "plasma/row.hpp"
#include "plasma/value.hpp"

namespace plasma::query {

enum class Tri : std::uint8_t { False, True, Unknown };

// Supplies what an expression reads: columns of the current row(s),
// subquery columns, aggregate results and parameter values.
class ColumnSource {
 public:
  virtual ~ColumnSource() = default;
  virtual Value column(const TableSpec* table, std::uint32_t column) const = 0;
  // The stored row of `table` being evaluated, for zero-copy comparisons;
  // nullptr when there is none (not a table row, or a NULL-filled join row).
  virtual const RowView* rowFor(const TableSpec* table) const;
  virtual Value colRef(const ExprNode& node) const;      // throws: no subquery here
  virtual Value aggregate(const ExprNode& node) const;   // throws: aggregate out of place
  virtual const Value& param(std::uint32_t index) const; // throws: no parameters bound
};

// A single row of one table.
class RowSource final : public ColumnSource {
 public:
  explicit RowSource(const RowView& row) : row_(row) {}
  Value column(const TableSpec* table, std::uint32_t column) const override;
  const RowView* rowFor(const TableSpec* table) const override { return table == &row_.table() ? &row_ : nullptr; }

 private:
  const RowView& row_;
};

Value evalValue(const Expr& e, const ColumnSource& src);
Tri evalPredicate(const Expr& e, const ColumnSource& src);
inline bool matches(const Expr& e, const ColumnSource& src) { return evalPredicate(e, src) == Tri::True; }

// Three-way compare of two non-NULL values of comparable kinds; throws
// Error(TypeMismatch) otherwise. `context` names the operand for the error.
int compareValues(const Value& a, const Value& b, std::string_view context);
bool comparableKinds(Kind a, Kind b) noexcept;
// ORDER BY order: NULL first, then compareValues.
int compareForSort(const Value& a, const Value& b);

bool likeMatch(std::string_view text, std::string_view pattern) noexcept;

// Appends the conjuncts of a top-level AND tree (e itself when not an AND;
// nothing when e is empty).
void flattenAnd(const Expr& e, std::vector<Expr>& out);
// The comparison with its operands swapped: a < b  <=>  b > a.
ExprOp mirrorComparison(ExprOp op) noexcept;

// Checks that every column the expression names belongs to `table`;
// throws Error(UnknownColumn) naming the foreign column otherwise.
void checkColumnsBelongTo(const Expr& e, const TableSpec& table);

}  // namespace plasma::query
