// plasma/schema.hpp — the schema DSL.
//
// An application declares each table as a struct deriving from plasma::Table,
// with one typed handle per column:
//
//   struct Todos : plasma::Table {
//     Todos() : Table("todos") { index("by_done", {done, updatedAt}); }
//     plasma::TextColumn id{this, plasma::id()};
//     plasma::TextColumn title{this, plasma::text("title")};
//     plasma::IntColumn done{this, plasma::integer("done").defaultTo(0)};
//     plasma::IntColumn updatedAt{this, plasma::integer("updatedAt")};
//   };
//   inline const Todos todos;
//   inline const plasma::Schema schema = plasma::defineSchema("todos-v1", {todos});
//
// Handles carry their value kind in the type, so eq(todos.done, "x") does not
// compile (operators.hpp). defineSchema validates the whole schema and throws
// plasma::Error(SchemaInvalid) naming the table and column at fault.
//
// Thread-safety: a Table is built once (in its constructor) and is immutable
// afterwards; Schema and TableSpec are immutable and safe to share.
#pragma once

#include <any>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plasma/expr.hpp"
#include "plasma/value.hpp"

namespace plasma {

enum class ColumnType : std::uint8_t {
  Id, Text, Integer, Bigint, Boolean, Blob, Json, File,
  CrdtCounter, CrdtPnCounter, CrdtLwwRegister, CrdtOrSet,
};

std::string_view columnTypeName(ColumnType t) noexcept;
// The Value kind a column of this type stores.
Kind storageKind(ColumnType t) noexcept;

enum class OnDelete : std::uint8_t { NoAction, Cascade, Restrict, SetNull };
std::string_view onDeleteName(OnDelete a) noexcept;

struct ForeignKey {
  std::string table;           // the referenced table; its `id` column is the target
  OnDelete on_delete = OnDelete::NoAction;
};

struct FileOptions {
  std::int64_t max_size_bytes = 0;         // 0: no limit
  std::vector<std::string> mime_allow_list;  // empty: any
  bool immutable = false;
};

struct ColumnSpec {
  std::string name;
  ColumnType type = ColumnType::Text;
  bool nullable = false;
  std::optional<Value> default_value;  // used by insert when no value is given
  bool unique = false;
  bool encrypted = false;              // a marker; encryption lands with crypto/
  std::optional<ForeignKey> ref;
  FileOptions file;

  Kind kind() const noexcept { return storageKind(type); }
};

struct IndexSpec {
  std::string name;
  std::vector<std::string> columns;
  bool unique = false;
};

// Slots that later layers evaluate: auth predicates are built from the
// caller's context (whatever the application put in its ctx), and
// resolveConflict merges a server row with a client's.
using AuthPredicate = std::function<Expr(const std::any& ctx)>;
struct TableAuth {
  AuthPredicate read;   // empty: everyone may read
  AuthPredicate write;  // empty: everyone may write
};
using ConflictResolver = std::function<std::vector<std::pair<std::string, Value>>(
    const std::vector<std::pair<std::string, Value>>& server,
    const std::vector<std::pair<std::string, Value>>& client)>;

struct TableOptions {
  bool change_log_suppressed = false;  // a local-only table: never logged, never synced
  TableAuth auth;
  ConflictResolver resolve_conflict;
};

struct TableSpec {
  std::string name;
  std::vector<ColumnSpec> columns;  // declaration order
  std::vector<IndexSpec> indexes;   // declared indexes (unique columns add their own)
  TableOptions options;

  // The index of the column called `name`, or -1.
  int findColumn(std::string_view name) const noexcept;
  const ColumnSpec& column(std::uint32_t i) const { return columns.at(i); }
};

// ---------------------------------------------------------------------------
// Column definitions (before they are attached to a table)
// ---------------------------------------------------------------------------

template <Kind K, class U>
concept LiteralFor =
    (K == Kind::Text && std::is_convertible_v<U, std::string_view>) ||
    (K == Kind::Integer && std::is_integral_v<U> && !std::is_same_v<U, bool> &&
     !std::is_same_v<U, char> && !std::is_same_v<U, char8_t>) ||
    (K == Kind::Boolean && std::is_same_v<U, bool>) ||
    (K == Kind::Real && std::is_floating_point_v<U>) ||
    (K == Kind::Blob && std::is_same_v<U, Bytes>) ||
    (K == Kind::Json && std::is_same_v<U, JsonText>) ||
    (K == Kind::File && std::is_same_v<U, FileRef>);

// Converts a C++ literal accepted by LiteralFor<K, U> to a Value of kind K.
template <Kind K, class U>
Value toValue(U&& v) {
  using T = std::remove_cvref_t<U>;
  if constexpr (K == Kind::Text) {
    return Value(std::string(std::string_view(v)));
  } else if constexpr (K == Kind::Integer) {
    return Value(static_cast<std::int64_t>(v));
  } else {
    return Value(T(std::forward<U>(v)));
  }
}

template <Kind K>
class Column;

template <Kind K>
class ColumnDef {
 public:
  explicit ColumnDef(ColumnSpec spec) : spec_(std::move(spec)) {}

  ColumnDef nullable() && { spec_.nullable = true; return std::move(*this); }
  ColumnDef unique() && { spec_.unique = true; return std::move(*this); }
  ColumnDef encrypted() && { spec_.encrypted = true; return std::move(*this); }
  template <class U>
    requires LiteralFor<K, std::remove_cvref_t<U>>
  ColumnDef defaultTo(U&& v) && {
    spec_.default_value = toValue<K>(std::forward<U>(v));
    return std::move(*this);
  }
  // A foreign key to another table's id column.
  ColumnDef ref(std::string table, OnDelete on_delete = OnDelete::NoAction) && {
    spec_.ref = ForeignKey{std::move(table), on_delete};
    return std::move(*this);
  }
  ColumnDef ref(const Column<Kind::Text>& target_id, OnDelete on_delete = OnDelete::NoAction) &&;

  const ColumnSpec& spec() const& { return spec_; }
  ColumnSpec&& spec() && { return std::move(spec_); }

 private:
  ColumnSpec spec_;
};

ColumnDef<Kind::Text> id();
ColumnDef<Kind::Text> text(std::string name);
ColumnDef<Kind::Integer> integer(std::string name);
ColumnDef<Kind::Integer> bigint(std::string name);
ColumnDef<Kind::Boolean> boolean(std::string name);
ColumnDef<Kind::Blob> blob(std::string name);
ColumnDef<Kind::Json> json(std::string name);
ColumnDef<Kind::File> file(std::string name, FileOptions options = {});
// CRDT columns store their state as JSON (see docs/storage.md for the shapes);
// merge semantics arrive with sync.
ColumnDef<Kind::Json> crdtCounter(std::string name);
ColumnDef<Kind::Json> crdtPnCounter(std::string name);
ColumnDef<Kind::Json> crdtLwwRegister(std::string name);
ColumnDef<Kind::Json> crdtOrSet(std::string name);

// ---------------------------------------------------------------------------
// Tables and column handles
// ---------------------------------------------------------------------------

// A type-erased column handle.
struct AnyColumn {
  const TableSpec* table = nullptr;
  std::uint32_t index = 0;
  const ColumnSpec& spec() const { return table->columns[index]; }
  Expr expr() const;
};

class Table {
 public:
  explicit Table(std::string name, TableOptions options = {});
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;
  virtual ~Table() = default;

  const TableSpec& spec() const noexcept { return *spec_; }
  const std::string& name() const noexcept { return spec_->name; }
  std::shared_ptr<const TableSpec> sharedSpec() const noexcept { return spec_; }

 protected:
  // Declare a secondary index over one or more columns (call from the
  // derived constructor's body, after the columns exist).
  void index(std::string name, std::initializer_list<AnyColumn> columns);
  void uniqueIndex(std::string name, std::initializer_list<AnyColumn> columns);

 private:
  template <Kind>
  friend class Column;
  std::uint32_t addColumn(ColumnSpec spec);
  void addIndex(std::string name, std::initializer_list<AnyColumn> columns, bool unique);

  std::shared_ptr<TableSpec> spec_;
};

template <Kind K>
class Column {
 public:
  static constexpr Kind kind = K;

  Column(Table* owner, ColumnDef<K> def)
      : table_(owner->spec_.get()), index_(owner->addColumn(std::move(def).spec())) {}

  const TableSpec& table() const noexcept { return *table_; }
  std::uint32_t index() const noexcept { return index_; }
  const ColumnSpec& spec() const { return table_->columns[index_]; }
  const std::string& name() const { return spec().name; }
  operator AnyColumn() const noexcept { return AnyColumn{table_, index_}; }
  Expr expr() const { return AnyColumn(*this).expr(); }

 private:
  const TableSpec* table_;
  std::uint32_t index_;
};

using TextColumn = Column<Kind::Text>;
using IntColumn = Column<Kind::Integer>;
using BoolColumn = Column<Kind::Boolean>;
using BlobColumn = Column<Kind::Blob>;
using JsonColumn = Column<Kind::Json>;
using FileColumn = Column<Kind::File>;

template <Kind K>
ColumnDef<K> ColumnDef<K>::ref(const Column<Kind::Text>& target_id, OnDelete on_delete) && {
  spec_.ref = ForeignKey{target_id.table().name, on_delete};
  return std::move(*this);
}

// ---------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------

class Schema {
 public:
  const std::string& version() const noexcept { return version_; }
  const std::vector<std::shared_ptr<const TableSpec>>& tables() const noexcept { return tables_; }
  // The table called `name`, or nullptr.
  const TableSpec* find(std::string_view name) const noexcept;

 private:
  friend Schema defineSchema(std::string, std::vector<std::reference_wrapper<const Table>>);
  std::string version_;
  std::vector<std::shared_ptr<const TableSpec>> tables_;
};

// Groups tables under a version string and validates them: one `id()` column
// per table, named `id`; unique table and column names that are identifiers;
// defaults of the column's kind; refs to tables of this schema (setNull only
// on nullable columns); indexes over existing columns.
Schema defineSchema(std::string version, std::vector<std::reference_wrapper<const Table>> tables);

}  // namespace plasma
