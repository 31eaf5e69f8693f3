// engine/catalog.hpp — the persisted catalog and the migration planner.
//
// The catalog records what the store was built with: per table its columns
// (with their FlatBuffers slot and fill value) and its effective indexes.
// planMigration compares it with the Schema in use and either returns the
// additive plan or throws MigrationRefused naming the offending change.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "plasma/database.hpp"
#include "plasma/schema.hpp"

namespace plasma::detail {

struct CatalogColumn {
  std::string name;
  ColumnType type = ColumnType::Text;
  std::uint16_t slot = 0;
  bool nullable = false;
  bool unique = false;
  bool encrypted = false;
  std::optional<Value> default_value;
  Value fill;  // what rows written before this column existed read
  std::optional<ForeignKey> ref;
};

struct CatalogTable {
  std::string name;
  std::vector<CatalogColumn> columns;
  std::vector<IndexSpec> indexes;  // effective indexes (declared + implicit)
  bool change_log_suppressed = false;
  const CatalogColumn* find(std::string_view column) const noexcept;
};

struct Catalog {
  std::string schema_version;
  std::vector<CatalogTable> tables;
  const CatalogTable* find(std::string_view table) const noexcept;
};

std::string encodeCatalog(const Catalog& catalog);
// Throws Error(CorruptRow) when the stored bytes are not a valid catalog.
Catalog decodeCatalog(std::span<const std::uint8_t> bytes);

// Declared indexes plus one per unique column ("$u_<col>") and one per
// foreign-key column not already leading an index ("$fk_<col>").
std::vector<IndexSpec> effectiveIndexes(const TableSpec& table);

struct IndexChange {
  std::string table;
  IndexSpec index;
};

struct MigrationPlan {
  SchemaDiff diff;
  Catalog next;                      // the catalog after the migration
  std::vector<IndexChange> build;    // indexes to create and fill
  std::vector<IndexChange> drop;     // indexes to remove
  std::vector<std::string> new_tables;
};

// Throws MigrationRefused for drops, renames, type changes, new NOT NULL
// constraints and foreign-key changes on existing columns.
MigrationPlan planMigration(const std::optional<Catalog>& stored, const Schema& schema);

}  // namespace plasma::detail
