#include "query/filter.hpp"

#include "plasma/schema.hpp"

namespace plasma::query {

namespace {

const Value* constant(const ExprNode& n, const std::vector<Value>& params) {
  if (n.op == ExprOp::Literal) return &n.value;
  if (n.op == ExprOp::Param && n.param < params.size()) return &params[n.param];
  return nullptr;
}

}  // namespace

CompiledFilter::CompiledFilter(const Expr& e, const TableSpec& table, const std::vector<Value>& params) {
  if (e) add(e, table, params);
}

// Compiles the conjuncts of a top-level AND tree (walked in place: no
// vector of terms per run).
void CompiledFilter::add(const Expr& term, const TableSpec& table, const std::vector<Value>& params) {
  const ExprNode& n = term.node();
  if (n.op == ExprOp::And) {
    for (const auto& c : n.children) add(c, table, params);
    return;
  }
  if (n.op >= ExprOp::Eq && n.op <= ExprOp::Lte) {
    const ExprNode* col = &n.children[0].node();
    const ExprNode* other = &n.children[1].node();
    ExprOp op = n.op;
    if (col->op != ExprOp::Column) {
      std::swap(col, other);
      op = mirrorComparison(op);
    }
    const Value* k = constant(*other, params);
    if (col->op == ExprOp::Column && col->table == &table && k != nullptr && !k->isNull()) {
      const Kind kind = table.columns[col->column].kind();
      if (kind == Kind::Integer && k->kind() == Kind::Integer) {
        simple_.push_back(Simple{Test::IntCmp, op, col->column, k->asInt(), {}});
        return;
      }
      if (kind == Kind::Text && k->kind() == Kind::Text) {
        simple_.push_back(Simple{Test::TextCmp, op, col->column, 0, std::string_view(k->asText())});
        return;
      }
    }
  } else if ((n.op == ExprOp::IsNull || n.op == ExprOp::IsNotNull) && n.children[0].node().op == ExprOp::Column &&
             n.children[0].node().table == &table) {
    simple_.push_back(Simple{n.op == ExprOp::IsNull ? Test::IsNull : Test::IsNotNull, n.op,
                             n.children[0].node().column, 0, {}});
    return;
  }
  residual_.push_back(term);
}

void CompiledFilter::bindLayout(const detail::RowLayout& layout) noexcept {
  layout_ = &layout;
  for (auto& c : simple_) {
    c.id = c.column == layout.id_column;
    c.vt = layout.vtableOffset(c.column);
  }
}

bool CompiledFilter::residualMatches(const ColumnSource& src) const {
  for (const auto& r : residual_) {
    if (!query::matches(r, src)) return false;
  }
  return true;
}

}  // namespace plasma::query
