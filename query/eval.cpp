#include "query/eval.hpp"

#include <cassert>
#include <cmath>
#include <cstring>

#include "plasma/error.hpp"
#include "plasma/schema.hpp"

namespace plasma::query {

const RowView* ColumnSource::rowFor(const TableSpec*) const { return nullptr; }

Value ColumnSource::colRef(const ExprNode& node) const {
  throw Error(ErrorCode::UnknownColumn, "colRef('" + node.alias + "', '" + node.name +
                                            "') used outside a query that selects from a subquery aliased '" +
                                            node.alias + "'");
}

Value ColumnSource::aggregate(const ExprNode& node) const {
  throw Error(ErrorCode::InvalidArgument, std::string("aggregate ") + std::string(aggregateName(node.aggregate)) +
                                              "() is only allowed in a select projection, having or orderBy");
}

const Value& ColumnSource::param(std::uint32_t index) const {
  throw Error(ErrorCode::InvalidArgument, "param(" + std::to_string(index) + ") has no bound value");
}

Value RowSource::column(const TableSpec* table, std::uint32_t column) const {
  if (table != &row_.table()) {
    throw Error(ErrorCode::UnknownColumn, "column " + table->name + "." + table->columns.at(column).name +
                                              " is not a column of table '" + row_.table().name + "'");
  }
  return row_.get(column);
}

namespace {

bool numeric(Kind k) { return k == Kind::Integer || k == Kind::Boolean || k == Kind::Real; }
bool textual(Kind k) { return k == Kind::Text || k == Kind::Json; }

std::int64_t asInteger(const Value& v) { return v.kind() == Kind::Boolean ? (v.asBool() ? 1 : 0) : v.asInt(); }

// An integer against a real, exactly as SQLite does: converting an integer
// beyond 2^53 to a double would round it (2^53 + 1 = 2^53.0 would hold).
int compareIntReal(std::int64_t i, double r) {
  if (std::isnan(r)) return 0;
  if (r >= 9223372036854775808.0) return -1;
  if (r < -9223372036854775808.0) return 1;
  const double t = std::trunc(r);
  const auto ti = static_cast<std::int64_t>(t);
  if (i != ti) return i < ti ? -1 : 1;
  return t < r ? -1 : (t > r ? 1 : 0);
}

int compareNumeric(const Value& a, const Value& b) {
  if (a.kind() != Kind::Real && b.kind() != Kind::Real) {
    const std::int64_t x = asInteger(a);
    const std::int64_t y = asInteger(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.kind() != Kind::Real) return compareIntReal(asInteger(a), b.asReal());
  if (b.kind() != Kind::Real) return -compareIntReal(asInteger(b), a.asReal());
  const double x = a.asReal();
  const double y = b.asReal();
  return x < y ? -1 : (x > y ? 1 : 0);
}

int compareBytes(std::string_view a, std::string_view b) {
  const int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

std::string_view textOf(const Value& v) { return v.kind() == Kind::Text ? v.asText() : v.asJson(); }

}  // namespace

bool comparableKinds(Kind a, Kind b) noexcept {
  return (numeric(a) && numeric(b)) || (textual(a) && textual(b)) || (a == b && a != Kind::Null);
}

int compareValues(const Value& a, const Value& b, std::string_view context) {
  assert(!a.isNull() && !b.isNull());
  if (numeric(a.kind()) && numeric(b.kind())) return compareNumeric(a, b);
  if (textual(a.kind()) && textual(b.kind())) return compareBytes(textOf(a), textOf(b));
  if (a.kind() == Kind::Blob && b.kind() == Kind::Blob) {
    const auto& x = a.asBlob();
    const auto& y = b.asBlob();
    return compareBytes(std::string_view(reinterpret_cast<const char*>(x.data()), x.size()),
                        std::string_view(reinterpret_cast<const char*>(y.data()), y.size()));
  }
  if (a.kind() == Kind::File && b.kind() == Kind::File) {
    const auto c = a.asFile() <=> b.asFile();
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  throw Error(ErrorCode::TypeMismatch, "type mismatch in " + std::string(context) + ": cannot compare " +
                                           std::string(kindName(a.kind())) + " with " +
                                           std::string(kindName(b.kind())));
}

int compareForSort(const Value& a, const Value& b) {
  if (a.isNull() || b.isNull()) return a.isNull() == b.isNull() ? 0 : (a.isNull() ? -1 : 1);
  return compareValues(a, b, "ORDER BY");
}

namespace {

// Length in bytes of the UTF-8 character starting with byte c (1 for
// malformed bytes, so matching always advances).
std::size_t utf8Length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xE) return 3;
  if ((c >> 3) == 0x1E) return 4;
  return 1;
}

char foldAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

bool likeMatch(std::string_view text, std::string_view pattern) noexcept {
  // Iterative wildcard matching with backtracking to the last '%'.
  std::size_t t = 0, p = 0;
  std::size_t star_p = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '%') {
      star_p = p++;
      star_t = t;
      continue;
    }
    if (p < pattern.size() && pattern[p] == '_') {
      const std::size_t n = utf8Length(static_cast<unsigned char>(text[t]));
      t += std::min(n, text.size() - t);
      ++p;
      continue;
    }
    if (p < pattern.size() && foldAscii(pattern[p]) == foldAscii(text[t])) {
      ++p;
      ++t;
      continue;
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p + 1;
    star_t += utf8Length(static_cast<unsigned char>(text[star_t]));
    t = std::min(star_t, text.size());
  }
  while (p < pattern.size() && pattern[p] == '%') ++p;
  return p == pattern.size();
}

namespace {

Tri fromBool(bool b) { return b ? Tri::True : Tri::False; }

Tri fromOrder(ExprOp op, int c) {
  switch (op) {
    case ExprOp::Eq: return fromBool(c == 0);
    case ExprOp::Ne: return fromBool(c != 0);
    case ExprOp::Gt: return fromBool(c > 0);
    case ExprOp::Gte: return fromBool(c >= 0);
    case ExprOp::Lt: return fromBool(c < 0);
    case ExprOp::Lte: return fromBool(c <= 0);
    default: return Tri::Unknown;
  }
}

}  // namespace

ExprOp mirrorComparison(ExprOp op) noexcept {
  switch (op) {
    case ExprOp::Gt: return ExprOp::Lt;
    case ExprOp::Gte: return ExprOp::Lte;
    case ExprOp::Lt: return ExprOp::Gt;
    case ExprOp::Lte: return ExprOp::Gte;
    default: return op;
  }
}

void flattenAnd(const Expr& e, std::vector<Expr>& out) {
  if (!e) return;
  if (e.node().op == ExprOp::And) {
    for (const auto& c : e.node().children) flattenAnd(c, out);
  } else {
    out.push_back(e);
  }
}

namespace {

// column <op> constant, read in place from the stored row: no Value copies.
// Returns false when the fast path does not apply.
bool compareInPlace(const ExprNode& col, ExprOp op, const Value& k, const ColumnSource& src, Tri* out) {
  const RowView* row = src.rowFor(col.table);
  if (row == nullptr) return false;
  const Kind kind = col.table->columns[col.column].kind();
  if (kind == Kind::Integer && k.kind() == Kind::Integer) {
    const auto v = row->getInt(col.column);
    *out = v ? fromOrder(op, *v < k.asInt() ? -1 : (*v > k.asInt() ? 1 : 0)) : Tri::Unknown;
    return true;
  }
  if ((kind == Kind::Text || kind == Kind::Json) && (k.kind() == Kind::Text || k.kind() == Kind::Json)) {
    const auto v = row->getText(col.column);
    const std::string_view kv = k.kind() == Kind::Text ? std::string_view(k.asText()) : std::string_view(k.asJson());
    *out = v ? fromOrder(op, compareBytes(*v, kv)) : Tri::Unknown;
    return true;
  }
  return false;
}

const Value* constantOf(const ExprNode& n, const ColumnSource& src) {
  if (n.op == ExprOp::Literal) return &n.value;
  if (n.op == ExprOp::Param) return &src.param(n.param);
  return nullptr;
}

// column <op> column (a join's ON), both read in place when both rows are
// stored rows and the kinds are integer/integer or text/text.
bool compareColumnsInPlace(const ExprNode& l, const ExprNode& r, ExprOp op, const ColumnSource& src, Tri* out) {
  const Kind lk = l.table->columns[l.column].kind();
  const Kind rk = r.table->columns[r.column].kind();
  const bool ints = lk == Kind::Integer && rk == Kind::Integer;
  const bool texts = textual(lk) && textual(rk);
  if (!ints && !texts) return false;
  const RowView* lrow = src.rowFor(l.table);
  const RowView* rrow = lrow != nullptr ? src.rowFor(r.table) : nullptr;
  if (rrow == nullptr) return false;
  if (ints) {
    const auto a = lrow->getInt(l.column);
    const auto b = rrow->getInt(r.column);
    *out = a && b ? fromOrder(op, *a < *b ? -1 : (*a > *b ? 1 : 0)) : Tri::Unknown;
    return true;
  }
  const auto a = lrow->getText(l.column);
  const auto b = rrow->getText(r.column);
  *out = a && b ? fromOrder(op, compareBytes(*a, *b)) : Tri::Unknown;
  return true;
}

Tri evalCompare(const ExprNode& n, const ColumnSource& src) {
  const ExprNode& l = n.children[0].node();
  const ExprNode& r = n.children[1].node();
  Tri fast = Tri::Unknown;
  if (l.op == ExprOp::Column && r.op == ExprOp::Column) {
    if (compareColumnsInPlace(l, r, n.op, src, &fast)) return fast;
  } else if (l.op == ExprOp::Column) {
    if (const Value* k = constantOf(r, src); k != nullptr && !k->isNull() && compareInPlace(l, n.op, *k, src, &fast)) {
      return fast;
    }
  } else if (r.op == ExprOp::Column) {
    if (const Value* k = constantOf(l, src); k != nullptr && !k->isNull() && compareInPlace(r, mirrorComparison(n.op), *k, src, &fast)) {
      return fast;
    }
  }
  const Value a = evalValue(n.children[0], src);
  const Value b = evalValue(n.children[1], src);
  if (a.isNull() || b.isNull()) return Tri::Unknown;
  if (!comparableKinds(a.kind(), b.kind())) {
    compareValues(a, b, Expr(std::make_shared<ExprNode>(n)).toString());  // throws, naming the comparison
  }
  return fromOrder(n.op, compareValues(a, b, {}));
}

Tri evalIn(const ExprNode& n, const ColumnSource& src) {
  if (n.values.empty()) return Tri::False;  // x IN () is false even for NULL x (SQLite)
  const Value a = evalValue(n.children[0], src);
  if (a.isNull()) return Tri::Unknown;
  bool saw_null = false;
  for (const Value& v : n.values) {
    if (v.isNull()) {
      saw_null = true;
      continue;
    }
    if (!comparableKinds(a.kind(), v.kind())) compareValues(a, v, n.children[0].toString() + " IN (...)");
    if (compareValues(a, v, {}) == 0) return Tri::True;
  }
  return saw_null ? Tri::Unknown : Tri::False;
}

Tri evalLike(const ExprNode& n, const ColumnSource& src) {
  const Value a = evalValue(n.children[0], src);
  if (a.isNull() || n.values[0].isNull()) return Tri::Unknown;
  if (!textual(a.kind())) {
    throw Error(ErrorCode::TypeMismatch, "type mismatch in " + n.children[0].toString() + " LIKE ...: " +
                                             std::string(kindName(a.kind())) + " is not text");
  }
  return fromBool(likeMatch(textOf(a), n.values[0].asText()));
}

}  // namespace

Tri evalPredicate(const Expr& e, const ColumnSource& src) {
  const ExprNode& n = e.node();
  switch (n.op) {
    case ExprOp::Eq:
    case ExprOp::Ne:
    case ExprOp::Gt:
    case ExprOp::Gte:
    case ExprOp::Lt:
    case ExprOp::Lte: return evalCompare(n, src);
    case ExprOp::And: {
      Tri acc = Tri::True;
      for (const auto& c : n.children) {
        const Tri t = evalPredicate(c, src);
        if (t == Tri::False) return Tri::False;
        if (t == Tri::Unknown) acc = Tri::Unknown;
      }
      return acc;
    }
    case ExprOp::Or: {
      Tri acc = Tri::False;
      for (const auto& c : n.children) {
        const Tri t = evalPredicate(c, src);
        if (t == Tri::True) return Tri::True;
        if (t == Tri::Unknown) acc = Tri::Unknown;
      }
      return acc;
    }
    case ExprOp::Not: {
      const Tri t = evalPredicate(n.children[0], src);
      return t == Tri::Unknown ? Tri::Unknown : fromBool(t == Tri::False);
    }
    case ExprOp::IsNull: return fromBool(evalValue(n.children[0], src).isNull());
    case ExprOp::IsNotNull: return fromBool(!evalValue(n.children[0], src).isNull());
    case ExprOp::InArray: return evalIn(n, src);
    case ExprOp::Like: return evalLike(n, src);
    case ExprOp::Column:
    case ExprOp::Literal:
    case ExprOp::ColRef:
    case ExprOp::Aggregate:
    case ExprOp::Param: {
      // A bare value used as a condition: SQLite's truthiness (non-zero number).
      const Value v = evalValue(e, src);
      if (v.isNull()) return Tri::Unknown;
      if (v.kind() == Kind::Boolean) return fromBool(v.asBool());
      if (v.kind() == Kind::Integer) return fromBool(v.asInt() != 0);
      if (v.kind() == Kind::Real) return fromBool(v.asReal() != 0.0);
      throw Error(ErrorCode::TypeMismatch, "type mismatch: " + e.toString() + " (" + std::string(kindName(v.kind())) +
                                               ") used as a condition");
    }
  }
  return Tri::Unknown;
}

Value evalValue(const Expr& e, const ColumnSource& src) {
  const ExprNode& n = e.node();
  switch (n.op) {
    case ExprOp::Column: return src.column(n.table, n.column);
    case ExprOp::Literal: return n.value;
    case ExprOp::ColRef: return src.colRef(n);
    case ExprOp::Aggregate: return src.aggregate(n);
    case ExprOp::Param: return src.param(n.param);
    default: {
      const Tri t = evalPredicate(e, src);
      if (t == Tri::Unknown) return Value();
      return Value(static_cast<std::int64_t>(t == Tri::True ? 1 : 0));
    }
  }
}

void checkColumnsBelongTo(const Expr& e, const TableSpec& table) {
  const ExprNode& n = e.node();
  if (n.op == ExprOp::Column && n.table != &table) {
    throw Error(ErrorCode::UnknownColumn, "column " + n.table->name + "." + n.table->columns.at(n.column).name +
                                              " is not a column of table '" + table.name + "'");
  }
  for (const auto& c : n.children) checkColumnsBelongTo(c, table);
}

}  // namespace plasma::query
