// plasma/operators.hpp — building predicates.
//
// Typed overloads take a column handle and a C++ literal of the column's kind;
// a mismatch (eq(todos.done, "x")) fails to compile. The Expr overloads are
// for dynamic queries: operand kinds are then checked when the expression is
// evaluated, and a mismatch raises Error(TypeMismatch) naming the column.
//
// SQL semantics (SQLite's): comparisons with NULL are NULL (unknown); and/or/not
// use three-valued logic; `like` matches `%` (any run) and `_` (one character)
// and ignores ASCII case.
#pragma once

#include <initializer_list>
#include <vector>

#include "plasma/expr.hpp"
#include "plasma/schema.hpp"

namespace plasma {

// Untyped building blocks.
Expr lit(Value v);
Expr compare(ExprOp op, Expr a, Expr b);
Expr and_(std::vector<Expr> terms);
Expr or_(std::vector<Expr> terms);
Expr not_(Expr e);
Expr isNull(Expr e);
Expr isNotNull(Expr e);
Expr inArray(Expr e, std::vector<Value> values);
Expr like(Expr e, std::string pattern);

inline Expr eq(Expr a, Expr b) { return compare(ExprOp::Eq, std::move(a), std::move(b)); }
inline Expr ne(Expr a, Expr b) { return compare(ExprOp::Ne, std::move(a), std::move(b)); }
inline Expr gt(Expr a, Expr b) { return compare(ExprOp::Gt, std::move(a), std::move(b)); }
inline Expr gte(Expr a, Expr b) { return compare(ExprOp::Gte, std::move(a), std::move(b)); }
inline Expr lt(Expr a, Expr b) { return compare(ExprOp::Lt, std::move(a), std::move(b)); }
inline Expr lte(Expr a, Expr b) { return compare(ExprOp::Lte, std::move(a), std::move(b)); }

inline Expr and_(Expr a, Expr b) { return and_(std::vector<Expr>{std::move(a), std::move(b)}); }
inline Expr or_(Expr a, Expr b) { return or_(std::vector<Expr>{std::move(a), std::move(b)}); }
template <class... E>
  requires(sizeof...(E) >= 3)
Expr and_(E&&... e) { return and_(std::vector<Expr>{Expr(std::forward<E>(e))...}); }
template <class... E>
  requires(sizeof...(E) >= 3)
Expr or_(E&&... e) { return or_(std::vector<Expr>{Expr(std::forward<E>(e))...}); }

// Typed: column against a literal of the column's kind.
#define PLASMA_TYPED_COMPARE(fn, OP)                                              \
  template <Kind K, class U>                                                      \
    requires LiteralFor<K, std::remove_cvref_t<U>>                                \
  Expr fn(const Column<K>& c, U&& v) {                                            \
    return compare(ExprOp::OP, c.expr(), lit(toValue<K>(std::forward<U>(v))));    \
  }                                                                               \
  template <Kind K>                                                               \
  Expr fn(const Column<K>& a, const Column<K>& b) {                               \
    return compare(ExprOp::OP, a.expr(), b.expr());                               \
  }
// Untyped mixes, for computed operands (aggregates, colRef, params): the
// kinds are checked when the expression is evaluated.
#define PLASMA_MIXED_COMPARE(fn, OP)                                              \
  template <class U>                                                              \
    requires std::is_constructible_v<Value, U> && (!std::is_same_v<std::remove_cvref_t<U>, Expr>) \
  Expr fn(Expr a, U&& v) {                                                        \
    return compare(ExprOp::OP, std::move(a), lit(Value(std::forward<U>(v))));   \
  }                                                                               \
  template <Kind K>                                                               \
  Expr fn(const Column<K>& a, Expr b) {                                           \
    return compare(ExprOp::OP, a.expr(), std::move(b));                           \
  }                                                                               \
  template <Kind K>                                                               \
  Expr fn(Expr a, const Column<K>& b) {                                           \
    return compare(ExprOp::OP, std::move(a), b.expr());                           \
  }
PLASMA_MIXED_COMPARE(eq, Eq)
PLASMA_MIXED_COMPARE(ne, Ne)
PLASMA_MIXED_COMPARE(gt, Gt)
PLASMA_MIXED_COMPARE(gte, Gte)
PLASMA_MIXED_COMPARE(lt, Lt)
PLASMA_MIXED_COMPARE(lte, Lte)
#undef PLASMA_MIXED_COMPARE

PLASMA_TYPED_COMPARE(eq, Eq)
PLASMA_TYPED_COMPARE(ne, Ne)
PLASMA_TYPED_COMPARE(gt, Gt)
PLASMA_TYPED_COMPARE(gte, Gte)
PLASMA_TYPED_COMPARE(lt, Lt)
PLASMA_TYPED_COMPARE(lte, Lte)
#undef PLASMA_TYPED_COMPARE

template <Kind K>
Expr isNull(const Column<K>& c) { return isNull(c.expr()); }
template <Kind K>
Expr isNotNull(const Column<K>& c) { return isNotNull(c.expr()); }

template <Kind K, class U>
  requires LiteralFor<K, U>
Expr inArray(const Column<K>& c, const std::vector<U>& values) {
  std::vector<Value> vs;
  vs.reserve(values.size());
  for (const auto& v : values) vs.push_back(toValue<K>(v));
  return inArray(c.expr(), std::move(vs));
}
template <Kind K, class U>
  requires LiteralFor<K, U>
Expr inArray(const Column<K>& c, std::initializer_list<U> values) {
  return inArray(c, std::vector<U>(values));
}

inline Expr like(const Column<Kind::Text>& c, std::string pattern) {
  return like(c.expr(), std::move(pattern));
}

// One column assignment for insert/update: {todos.title, "x"} or
// {todos.note, nullptr} for NULL. Typed like the comparisons above.
struct Assignment {
  AnyColumn column;
  Value value;

  template <Kind K, class U>
    requires LiteralFor<K, std::remove_cvref_t<U>>
  Assignment(const Column<K>& c, U&& v) : column(c), value(toValue<K>(std::forward<U>(v))) {}
  template <Kind K>
  Assignment(const Column<K>& c, std::nullptr_t) : column(c), value() {}
  // Untyped, for dynamic writes: the kind is checked when the statement runs.
  // Explicit, so that a brace pair like {todos.done, "x"} cannot fall back
  // to it and must type-check against the column.
  explicit Assignment(AnyColumn c, Value v) : column(c), value(std::move(v)) {}
};

}  // namespace plasma
