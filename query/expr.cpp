#include <sstream>

#include "plasma/error.hpp"
#include "plasma/operators.hpp"
#include "plasma/schema.hpp"

namespace plasma {

std::string_view exprOpName(ExprOp op) noexcept {
  switch (op) {
    case ExprOp::Column: return "column";
    case ExprOp::Literal: return "literal";
    case ExprOp::Eq: return "=";
    case ExprOp::Ne: return "<>";
    case ExprOp::Gt: return ">";
    case ExprOp::Gte: return ">=";
    case ExprOp::Lt: return "<";
    case ExprOp::Lte: return "<=";
    case ExprOp::And: return "AND";
    case ExprOp::Or: return "OR";
    case ExprOp::Not: return "NOT";
    case ExprOp::InArray: return "IN";
    case ExprOp::IsNull: return "IS NULL";
    case ExprOp::IsNotNull: return "IS NOT NULL";
    case ExprOp::Like: return "LIKE";
    case ExprOp::ColRef: return "colRef";
    case ExprOp::Aggregate: return "aggregate";
    case ExprOp::Param: return "param";
  }
  return "?";
}

std::string_view aggregateName(AggregateFn fn) noexcept {
  switch (fn) {
    case AggregateFn::CountStar:
    case AggregateFn::Count: return "count";
    case AggregateFn::Sum: return "sum";
    case AggregateFn::Avg: return "avg";
    case AggregateFn::Min: return "min";
    case AggregateFn::Max: return "max";
  }
  return "?";
}

namespace {

Expr make(ExprOp op, std::vector<Expr> children = {}, std::vector<Value> values = {}) {
  auto node = std::make_shared<ExprNode>();
  node->op = op;
  node->children = std::move(children);
  node->values = std::move(values);
  for (const auto& c : node->children) {
    if (!c) throw Error(ErrorCode::InvalidArgument, std::string("an empty expression passed to ") + std::string(exprOpName(op)));
  }
  return Expr(std::move(node));
}

void render(const Expr& e, std::ostringstream& out) {
  const ExprNode& n = e.node();
  switch (n.op) {
    case ExprOp::Column:
      out << n.table->name << "." << n.table->columns[n.column].name;
      return;
    case ExprOp::Literal:
      out << n.value.toString();
      return;
    case ExprOp::And:
    case ExprOp::Or: {
      out << "(";
      for (std::size_t i = 0; i < n.children.size(); ++i) {
        if (i > 0) out << " " << exprOpName(n.op) << " ";
        render(n.children[i], out);
      }
      out << ")";
      return;
    }
    case ExprOp::Not:
      out << "NOT ";
      render(n.children[0], out);
      return;
    case ExprOp::IsNull:
    case ExprOp::IsNotNull:
      render(n.children[0], out);
      out << " " << exprOpName(n.op);
      return;
    case ExprOp::InArray: {
      render(n.children[0], out);
      out << " IN (";
      for (std::size_t i = 0; i < n.values.size(); ++i) out << (i > 0 ? ", " : "") << n.values[i].toString();
      out << ")";
      return;
    }
    case ExprOp::Like:
      render(n.children[0], out);
      out << " LIKE " << n.values[0].toString();
      return;
    case ExprOp::ColRef:
      out << n.alias << "." << n.name;
      return;
    case ExprOp::Param:
      out << "?" << n.param;
      return;
    case ExprOp::Aggregate:
      out << aggregateName(n.aggregate) << "(";
      if (n.aggregate == AggregateFn::CountStar) {
        out << "*";
      } else {
        render(n.children[0], out);
      }
      out << ")";
      return;
    default:
      render(n.children[0], out);
      out << " " << exprOpName(n.op) << " ";
      render(n.children[1], out);
      return;
  }
}

}  // namespace

std::string Expr::toString() const {
  if (!node_) return "<empty>";
  std::ostringstream out;
  render(*this, out);
  return out.str();
}

Expr lit(Value v) {
  auto node = std::make_shared<ExprNode>();
  node->op = ExprOp::Literal;
  node->value = std::move(v);
  return Expr(std::move(node));
}

Expr compare(ExprOp op, Expr a, Expr b) {
  if (op < ExprOp::Eq || op > ExprOp::Lte) {
    throw Error(ErrorCode::InvalidArgument, std::string("compare() needs a comparison operator, got ") +
                                                std::string(exprOpName(op)));
  }
  return make(op, {std::move(a), std::move(b)});
}

Expr and_(std::vector<Expr> terms) {
  if (terms.empty()) throw Error(ErrorCode::InvalidArgument, "and_() needs at least one term");
  if (terms.size() == 1) return terms[0];
  return make(ExprOp::And, std::move(terms));
}

Expr or_(std::vector<Expr> terms) {
  if (terms.empty()) throw Error(ErrorCode::InvalidArgument, "or_() needs at least one term");
  if (terms.size() == 1) return terms[0];
  return make(ExprOp::Or, std::move(terms));
}

Expr not_(Expr e) { return make(ExprOp::Not, {std::move(e)}); }
Expr isNull(Expr e) { return make(ExprOp::IsNull, {std::move(e)}); }
Expr isNotNull(Expr e) { return make(ExprOp::IsNotNull, {std::move(e)}); }
Expr inArray(Expr e, std::vector<Value> values) { return make(ExprOp::InArray, {std::move(e)}, std::move(values)); }
Expr like(Expr e, std::string pattern) { return make(ExprOp::Like, {std::move(e)}, {Value(std::move(pattern))}); }

}  // namespace plasma
