#include "plasma/schema.hpp"

#include <cctype>
#include <set>
#include <unordered_set>

#include "plasma/error.hpp"

namespace plasma {

std::string_view columnTypeName(ColumnType t) noexcept {
  switch (t) {
    case ColumnType::Id: return "id";
    case ColumnType::Text: return "text";
    case ColumnType::Integer: return "integer";
    case ColumnType::Bigint: return "bigint";
    case ColumnType::Boolean: return "boolean";
    case ColumnType::Blob: return "blob";
    case ColumnType::Json: return "json";
    case ColumnType::File: return "file";
    case ColumnType::CrdtCounter: return "crdtCounter";
    case ColumnType::CrdtPnCounter: return "crdtPnCounter";
    case ColumnType::CrdtLwwRegister: return "crdtLwwRegister";
    case ColumnType::CrdtOrSet: return "crdtOrSet";
  }
  return "unknown";
}

Kind storageKind(ColumnType t) noexcept {
  switch (t) {
    case ColumnType::Id:
    case ColumnType::Text: return Kind::Text;
    case ColumnType::Integer:
    case ColumnType::Bigint: return Kind::Integer;
    case ColumnType::Boolean: return Kind::Boolean;
    case ColumnType::Blob: return Kind::Blob;
    case ColumnType::File: return Kind::File;
    case ColumnType::Json:
    case ColumnType::CrdtCounter:
    case ColumnType::CrdtPnCounter:
    case ColumnType::CrdtLwwRegister:
    case ColumnType::CrdtOrSet: return Kind::Json;
  }
  return Kind::Null;
}

std::string_view onDeleteName(OnDelete a) noexcept {
  switch (a) {
    case OnDelete::NoAction: return "noAction";
    case OnDelete::Cascade: return "cascade";
    case OnDelete::Restrict: return "restrict";
    case OnDelete::SetNull: return "setNull";
  }
  return "unknown";
}

int TableSpec::findColumn(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

namespace {

template <Kind K>
ColumnDef<K> make(std::string name, ColumnType type) {
  ColumnSpec spec;
  spec.name = std::move(name);
  spec.type = type;
  return ColumnDef<K>(std::move(spec));
}

}  // namespace

ColumnDef<Kind::Text> id() { return make<Kind::Text>("id", ColumnType::Id); }
ColumnDef<Kind::Text> text(std::string name) { return make<Kind::Text>(std::move(name), ColumnType::Text); }
ColumnDef<Kind::Integer> integer(std::string name) {
  return make<Kind::Integer>(std::move(name), ColumnType::Integer);
}
ColumnDef<Kind::Integer> bigint(std::string name) { return make<Kind::Integer>(std::move(name), ColumnType::Bigint); }
ColumnDef<Kind::Boolean> boolean(std::string name) {
  return make<Kind::Boolean>(std::move(name), ColumnType::Boolean);
}
ColumnDef<Kind::Blob> blob(std::string name) { return make<Kind::Blob>(std::move(name), ColumnType::Blob); }
ColumnDef<Kind::Json> json(std::string name) { return make<Kind::Json>(std::move(name), ColumnType::Json); }
ColumnDef<Kind::File> file(std::string name, FileOptions options) {
  auto def = make<Kind::File>(std::move(name), ColumnType::File);
  ColumnSpec spec = std::move(def).spec();
  spec.file = std::move(options);
  return ColumnDef<Kind::File>(std::move(spec));
}
ColumnDef<Kind::Json> crdtCounter(std::string name) {
  return make<Kind::Json>(std::move(name), ColumnType::CrdtCounter);
}
ColumnDef<Kind::Json> crdtPnCounter(std::string name) {
  return make<Kind::Json>(std::move(name), ColumnType::CrdtPnCounter);
}
ColumnDef<Kind::Json> crdtLwwRegister(std::string name) {
  return make<Kind::Json>(std::move(name), ColumnType::CrdtLwwRegister);
}
ColumnDef<Kind::Json> crdtOrSet(std::string name) { return make<Kind::Json>(std::move(name), ColumnType::CrdtOrSet); }

Expr AnyColumn::expr() const {
  auto node = std::make_shared<ExprNode>();
  node->op = ExprOp::Column;
  node->table = table;
  node->column = index;
  return Expr(std::move(node));
}

// ---- Table -------------------------------------------------------------------

Table::Table(std::string name, TableOptions options) : spec_(std::make_shared<TableSpec>()) {
  spec_->name = std::move(name);
  spec_->options = std::move(options);
}

std::uint32_t Table::addColumn(ColumnSpec spec) {
  spec_->columns.push_back(std::move(spec));
  return static_cast<std::uint32_t>(spec_->columns.size() - 1);
}

void Table::addIndex(std::string name, std::initializer_list<AnyColumn> columns, bool unique) {
  IndexSpec index;
  index.name = std::move(name);
  index.unique = unique;
  for (const AnyColumn& c : columns) {
    if (c.table != spec_.get()) {
      throw Error(ErrorCode::SchemaInvalid,
                  "table '" + spec_->name + "': index '" + index.name + "' names a column of another table");
    }
    index.columns.push_back(c.spec().name);
  }
  spec_->indexes.push_back(std::move(index));
}

void Table::index(std::string name, std::initializer_list<AnyColumn> columns) {
  addIndex(std::move(name), columns, false);
}
void Table::uniqueIndex(std::string name, std::initializer_list<AnyColumn> columns) {
  addIndex(std::move(name), columns, true);
}

// ---- Schema ------------------------------------------------------------------

const TableSpec* Schema::find(std::string_view name) const noexcept {
  for (const auto& t : tables_) {
    if (t->name == name) return t.get();
  }
  return nullptr;
}

namespace {

constexpr std::size_t kMaxNameBytes = 64;

[[noreturn]] void invalid(const std::string& msg) { throw Error(ErrorCode::SchemaInvalid, msg); }

bool isIdentifier(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameBytes) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

void validateDefault(const TableSpec& t, const ColumnSpec& c) {
  if (!c.default_value) return;
  const std::string where = "table '" + t.name + "', column '" + c.name + "'";
  if (c.type == ColumnType::Id) invalid(where + ": the id column cannot have a default");
  if (c.default_value->isNull()) {
    if (!c.nullable) invalid(where + ": a NULL default needs .nullable()");
    return;
  }
  if (c.default_value->kind() != c.kind()) {
    invalid(where + ": default " + c.default_value->toString() + " is not of the column's type " +
            std::string(columnTypeName(c.type)));
  }
}

void validateColumn(const TableSpec& t, const ColumnSpec& c) {
  const std::string where = "table '" + t.name + "', column '" + c.name + "'";
  if (!isIdentifier(c.name)) invalid("table '" + t.name + "': column name '" + c.name + "' is not an identifier");
  if (c.name == "id" && c.type != ColumnType::Id) invalid(where + ": a column named 'id' must be declared with id()");
  if (c.type == ColumnType::Id) {
    if (c.name != "id") invalid(where + ": the id() column must be named 'id'");
    if (c.nullable) invalid(where + ": the id column cannot be nullable");
    if (c.ref) invalid(where + ": the id column cannot be a foreign key");
  }
  validateDefault(t, c);
  const bool crdt = c.type >= ColumnType::CrdtCounter;
  if (c.unique && (c.type == ColumnType::File || crdt)) {
    invalid(where + ": " + std::string(columnTypeName(c.type)) + " columns cannot be unique");
  }
  if (c.ref) {
    if (c.kind() != Kind::Text) invalid(where + ": a foreign key column must be text");
    if (c.ref->on_delete == OnDelete::SetNull && !c.nullable) {
      invalid(where + ": onDelete setNull needs a nullable column");
    }
  }
}

void validateIndex(const TableSpec& t, const IndexSpec& index) {
  const std::string where = "table '" + t.name + "', index '" + index.name + "'";
  if (!isIdentifier(index.name)) invalid("table '" + t.name + "': index name '" + index.name + "' is not an identifier");
  if (index.columns.empty()) invalid(where + ": an index needs at least one column");
  std::set<std::string> seen;
  for (const auto& col : index.columns) {
    const int i = t.findColumn(col);
    if (i < 0) invalid(where + ": unknown column '" + col + "'");
    if (t.columns[static_cast<std::size_t>(i)].kind() == Kind::File) {
      invalid(where + ": file column '" + col + "' cannot be indexed");
    }
    if (!seen.insert(col).second) invalid(where + ": column '" + col + "' appears twice");
  }
}

void validateTable(const TableSpec& t) {
  if (!isIdentifier(t.name)) invalid("table name '" + t.name + "' is not an identifier");
  if (t.name.starts_with("_")) invalid("table name '" + t.name + "' starts with '_', which plasma reserves");
  std::unordered_set<std::string> names;
  int ids = 0;
  for (const auto& c : t.columns) {
    validateColumn(t, c);
    if (!names.insert(c.name).second) invalid("table '" + t.name + "': column '" + c.name + "' is declared twice");
    if (c.type == ColumnType::Id) ++ids;
  }
  if (ids != 1) invalid("table '" + t.name + "' must have exactly one id() column, named 'id'");
  std::unordered_set<std::string> index_names;
  for (const auto& index : t.indexes) {
    validateIndex(t, index);
    if (!index_names.insert(index.name).second) invalid("table '" + t.name + "': index '" + index.name + "' is declared twice");
  }
}

}  // namespace

Schema defineSchema(std::string version, std::vector<std::reference_wrapper<const Table>> tables) {
  if (version.empty()) invalid("the schema version string is empty");
  Schema schema;
  schema.version_ = std::move(version);
  std::unordered_set<std::string> names;
  for (const Table& t : tables) {
    validateTable(t.spec());
    if (!names.insert(t.name()).second) invalid("table '" + t.name() + "' appears twice in the schema");
    schema.tables_.push_back(t.sharedSpec());
  }
  if (schema.tables_.empty()) invalid("a schema needs at least one table");
  for (const auto& t : schema.tables_) {
    for (const auto& c : t->columns) {
      if (c.ref && !names.contains(c.ref->table)) {
        invalid("table '" + t->name + "', column '" + c.name + "': references table '" + c.ref->table +
                "', which is not in the schema");
      }
    }
  }
  return schema;
}

}  // namespace plasma
