// plasma/expr.hpp — the expression tree shared by writes (update/delete
// predicates) and the query executor.
//
// An Expr is an immutable, cheaply copied handle to a node. Build them with
// the typed operators in operators.hpp (eq, and_, like, ...); the untyped
// overloads there take Expr operands and check kinds at run time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "plasma/value.hpp"

namespace plasma {

struct TableSpec;
struct ExprNode;

enum class ExprOp : std::uint8_t {
  Column,     // a column of a table
  Literal,    // a constant Value
  Eq, Ne, Gt, Gte, Lt, Lte,
  And, Or, Not,
  InArray,    // children[0] IN values
  IsNull, IsNotNull,
  Like,       // children[0] LIKE pattern (values[0], Text)
  ColRef,     // a column of a subquery: alias.name (query.hpp: colRef)
  Aggregate,  // count/sum/avg/min/max over children[0] (none for count())
  Param,      // a parameter bound at execution (query.hpp: param)
};

enum class AggregateFn : std::uint8_t { CountStar, Count, Sum, Avg, Min, Max };
std::string_view aggregateName(AggregateFn fn) noexcept;

std::string_view exprOpName(ExprOp op) noexcept;

class Expr {
 public:
  Expr() = default;
  explicit Expr(std::shared_ptr<const ExprNode> node) : node_(std::move(node)) {}

  const ExprNode& node() const { return *node_; }
  explicit operator bool() const noexcept { return node_ != nullptr; }

  // Renders the expression in SQL-like text for errors and explain().
  std::string toString() const;

 private:
  std::shared_ptr<const ExprNode> node_;
};

struct ExprNode {
  ExprOp op = ExprOp::Literal;
  const TableSpec* table = nullptr;  // Column: the table it belongs to
  std::uint32_t column = 0;          // Column: index into TableSpec::columns
  Value value;                       // Literal
  std::vector<Expr> children;        // operands
  std::vector<Value> values;         // InArray list; Like pattern
  AggregateFn aggregate = AggregateFn::CountStar;  // Aggregate
  std::string alias, name;           // ColRef: subquery alias and column name
  std::uint32_t param = 0;           // Param: parameter index
};

}  // namespace plasma
