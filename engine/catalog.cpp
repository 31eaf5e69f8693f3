#include "engine/catalog.hpp"

#include <algorithm>
#include <cassert>
#include <set>

#include <boost/json.hpp>
#include <flatbuffers/flatbuffers.h>

#include "engine/json_parse.hpp"
#include "plasma/error.hpp"
#include "plasma/fbs/catalog_generated.h"

namespace plasma::detail {

namespace fb = flatbuffers;
namespace json = boost::json;

const CatalogColumn* CatalogTable::find(std::string_view column) const noexcept {
  for (const auto& c : columns) {
    if (c.name == column) return &c;
  }
  return nullptr;
}

const CatalogTable* Catalog::find(std::string_view table) const noexcept {
  for (const auto& t : tables) {
    if (t.name == table) return &t;
  }
  return nullptr;
}

namespace {

// Values in the catalog are JSON: [kind, payload].
std::string valueToJson(const Value& v) {
  json::array a;
  a.push_back(static_cast<int>(v.kind()));
  switch (v.kind()) {
    case Kind::Null: a.push_back(nullptr); break;
    case Kind::Integer: a.push_back(v.asInt()); break;
    case Kind::Real: a.push_back(v.asReal()); break;
    case Kind::Boolean: a.push_back(v.asBool()); break;
    case Kind::Text: a.push_back(json::string(v.asText())); break;
    case Kind::Json: a.push_back(json::string(v.asJson())); break;
    case Kind::Blob: {
      json::array bytes;
      for (auto b : v.asBlob()) bytes.push_back(b);
      a.push_back(std::move(bytes));
      break;
    }
    case Kind::File: a.push_back(json::array{json::string(v.asFile().hash), v.asFile().size, json::string(v.asFile().mime)}); break;
  }
  return json::serialize(a);
}

Value valueFromJson(std::string_view text) {
  const json::array a = parseJsonExact(text).as_array();
  const auto kind = static_cast<Kind>(a.at(0).as_int64());
  const json::value& p = a.at(1);
  switch (kind) {
    case Kind::Null: return Value();
    case Kind::Integer: return Value(p.as_int64());
    case Kind::Real: return Value(p.as_double());
    case Kind::Boolean: return Value(p.as_bool());
    case Kind::Text: return Value(std::string(p.as_string()));
    case Kind::Json: return Value::json(std::string(p.as_string()));
    case Kind::Blob: {
      Bytes b;
      for (const auto& e : p.as_array()) b.push_back(static_cast<std::uint8_t>(e.as_int64()));
      return Value(std::move(b));
    }
    case Kind::File: {
      const auto& f = p.as_array();
      return Value(FileRef{std::string(f.at(0).as_string()), f.at(1).as_int64(), std::string(f.at(2).as_string())});
    }
  }
  throw Error(ErrorCode::CorruptRow, "catalog: unknown value kind");
}

fb::Offset<fbs::CatalogColumn> encodeColumn(fb::FlatBufferBuilder& b, const CatalogColumn& c) {
  const auto name = b.CreateString(c.name);
  const auto def = c.default_value ? b.CreateString(valueToJson(*c.default_value)) : fb::Offset<fb::String>();
  const auto fill = b.CreateString(valueToJson(c.fill));
  const auto ref = c.ref ? b.CreateString(c.ref->table) : fb::Offset<fb::String>();
  return fbs::CreateCatalogColumn(b, name, static_cast<std::uint8_t>(c.type), c.slot, c.nullable, c.unique,
                                  c.encrypted, def, fill, ref,
                                  static_cast<std::uint8_t>(c.ref ? c.ref->on_delete : OnDelete::NoAction));
}

fb::Offset<fbs::CatalogIndex> encodeIndex(fb::FlatBufferBuilder& b, const IndexSpec& index) {
  const auto name = b.CreateString(index.name);
  const auto cols = b.CreateVectorOfStrings(index.columns);
  return fbs::CreateCatalogIndex(b, name, cols, index.unique);
}

[[noreturn]] void corrupt(const std::string& why) { throw Error(ErrorCode::CorruptRow, "stored catalog: " + why); }

std::string str(const fb::String* s) { return s != nullptr ? s->str() : std::string(); }

}  // namespace

std::string encodeCatalog(const Catalog& catalog) {
  fb::FlatBufferBuilder b(1024);
  std::vector<fb::Offset<fbs::CatalogTable>> tables;
  for (const auto& t : catalog.tables) {
    std::vector<fb::Offset<fbs::CatalogColumn>> cols;
    for (const auto& c : t.columns) cols.push_back(encodeColumn(b, c));
    std::vector<fb::Offset<fbs::CatalogIndex>> idx;
    for (const auto& i : t.indexes) idx.push_back(encodeIndex(b, i));
    const auto name = b.CreateString(t.name);
    const auto cv = b.CreateVector(cols);
    const auto iv = b.CreateVector(idx);
    tables.push_back(fbs::CreateCatalogTable(b, name, cv, iv, t.change_log_suppressed));
  }
  const auto version = b.CreateString(catalog.schema_version);
  const auto tv = b.CreateVector(tables);
  b.Finish(fbs::CreateCatalog(b, 1, version, tv));
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Catalog decodeCatalog(std::span<const std::uint8_t> bytes) {
  fb::Verifier v(bytes.data(), bytes.size());
  if (!fbs::VerifyCatalogBuffer(v)) corrupt("not a valid FlatBuffers catalog");
  const fbs::Catalog* c = fbs::GetCatalog(bytes.data());
  if (c->format() != 1) corrupt("unsupported catalog format " + std::to_string(c->format()));
  Catalog out;
  out.schema_version = str(c->schema_version());
  if (c->tables() == nullptr) return out;
  try {
    for (const auto* t : *c->tables()) {
      CatalogTable ct;
      ct.name = str(t->name());
      ct.change_log_suppressed = t->change_log_suppressed();
      if (t->columns() != nullptr) {
        for (const auto* col : *t->columns()) {
          CatalogColumn cc;
          cc.name = str(col->name());
          if (col->type() > static_cast<std::uint8_t>(ColumnType::CrdtOrSet)) {
            corrupt("column '" + cc.name + "' of table '" + ct.name + "' has unknown type " +
                    std::to_string(col->type()));
          }
          if (col->on_delete() > static_cast<std::uint8_t>(OnDelete::SetNull)) {
            corrupt("column '" + cc.name + "' of table '" + ct.name + "' has unknown onDelete action " +
                    std::to_string(col->on_delete()));
          }
          cc.type = static_cast<ColumnType>(col->type());
          cc.slot = col->slot();
          cc.nullable = col->nullable();
          cc.unique = col->unique();
          cc.encrypted = col->encrypted();
          if (col->default_value() != nullptr) cc.default_value = valueFromJson(col->default_value()->string_view());
          if (col->fill_value() != nullptr) cc.fill = valueFromJson(col->fill_value()->string_view());
          if (col->ref_table() != nullptr) cc.ref = ForeignKey{str(col->ref_table()), static_cast<OnDelete>(col->on_delete())};
          ct.columns.push_back(std::move(cc));
        }
      }
      if (t->indexes() != nullptr) {
        for (const auto* i : *t->indexes()) {
          IndexSpec is;
          is.name = str(i->name());
          is.unique = i->unique();
          if (i->columns() != nullptr) {
            for (const auto* s : *i->columns()) is.columns.push_back(s->str());
          }
          ct.indexes.push_back(std::move(is));
        }
      }
      out.tables.push_back(std::move(ct));
    }
  } catch (const Error&) {
    throw;  // already says what is wrong
  } catch (const std::exception& e) {
    corrupt(std::string("malformed value: ") + e.what());
  }
  return out;
}

std::vector<IndexSpec> effectiveIndexes(const TableSpec& table) {
  std::vector<IndexSpec> out = table.indexes;
  for (const auto& c : table.columns) {
    if (c.unique) out.push_back(IndexSpec{"$u_" + c.name, {c.name}, true});
  }
  for (const auto& c : table.columns) {
    if (!c.ref) continue;
    const bool covered = std::any_of(out.begin(), out.end(), [&](const IndexSpec& i) { return i.columns.front() == c.name; });
    if (!covered) out.push_back(IndexSpec{"$fk_" + c.name, {c.name}, false});
  }
  return out;
}

namespace {

[[noreturn]] void refuse(const std::string& why) { throw MigrationRefused("migration refused: " + why); }

CatalogColumn fromSpec(const ColumnSpec& c, std::uint16_t slot) {
  CatalogColumn out;
  out.name = c.name;
  out.type = c.type;
  out.slot = slot;
  out.nullable = c.nullable;
  out.unique = c.unique;
  out.encrypted = c.encrypted;
  out.default_value = c.default_value;
  out.ref = c.ref;
  return out;
}

CatalogTable newTable(const TableSpec& spec) {
  CatalogTable t;
  t.name = spec.name;
  t.change_log_suppressed = spec.options.change_log_suppressed;
  for (std::size_t i = 0; i < spec.columns.size(); ++i) {
    t.columns.push_back(fromSpec(spec.columns[i], static_cast<std::uint16_t>(i)));
  }
  t.indexes = effectiveIndexes(spec);
  return t;
}

bool sameRef(const std::optional<ForeignKey>& a, const std::optional<ForeignKey>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->table == b->table && a->on_delete == b->on_delete);
}

bool sameIndex(const IndexSpec& a, const IndexSpec& b) { return a.columns == b.columns && a.unique == b.unique; }

void checkExistingColumn(const std::string& table, const CatalogColumn& old, const ColumnSpec& now,
                         CatalogColumn& next, SchemaDiff& diff) {
  const std::string where = table + "." + old.name;
  if (old.type != now.type) {
    refuse("column " + where + " changes type from " + std::string(columnTypeName(old.type)) + " to " +
           std::string(columnTypeName(now.type)));
  }
  if (old.nullable && !now.nullable) refuse("column " + where + " becomes NOT NULL");
  if (!sameRef(old.ref, now.ref)) refuse("column " + where + " changes its foreign key");
  if (old.encrypted != now.encrypted) refuse("column " + where + " changes its encrypted marker");
  if (!old.nullable && now.nullable) diff.changed.push_back(where + ": now nullable");
  if (old.default_value != now.default_value) diff.changed.push_back(where + ": default changed");
  if (old.unique != now.unique) diff.changed.push_back(where + (now.unique ? ": now unique" : ": no longer unique"));
  next.nullable = now.nullable;
  next.default_value = now.default_value;
  next.unique = now.unique;
}

CatalogTable migrateTable(const CatalogTable& old, const TableSpec& spec, MigrationPlan& plan) {
  CatalogTable next;
  next.name = spec.name;
  next.change_log_suppressed = spec.options.change_log_suppressed;
  if (old.change_log_suppressed != next.change_log_suppressed) {
    plan.diff.changed.push_back(spec.name + ": changeLogSuppressed " + (next.change_log_suppressed ? "on" : "off"));
  }
  for (const auto& oc : old.columns) {
    if (spec.findColumn(oc.name) < 0) refuse("column " + spec.name + "." + oc.name + " was dropped or renamed");
  }
  std::uint16_t next_slot = 0;
  for (const auto& oc : old.columns) next_slot = std::max<std::uint16_t>(next_slot, static_cast<std::uint16_t>(oc.slot + 1));
  for (const auto& c : spec.columns) {
    const CatalogColumn* oc = old.find(c.name);
    if (oc != nullptr) {
      CatalogColumn nc = *oc;
      checkExistingColumn(spec.name, *oc, c, nc, plan.diff);
      next.columns.push_back(std::move(nc));
      continue;
    }
    const std::string where = spec.name + "." + c.name;
    if (!c.nullable && !c.default_value) {
      refuse("new column " + where + " is NOT NULL without a default; existing rows would have no value");
    }
    if (c.ref && c.default_value && !c.default_value->isNull()) {
      refuse("new foreign-key column " + where + " has a non-NULL default that existing rows cannot satisfy");
    }
    CatalogColumn nc = fromSpec(c, next_slot++);
    nc.fill = c.default_value.value_or(Value());
    next.columns.push_back(std::move(nc));
    plan.diff.added_columns.push_back(where);
  }
  next.indexes = effectiveIndexes(spec);
  for (const auto& oi : old.indexes) {
    auto it = std::find_if(next.indexes.begin(), next.indexes.end(), [&](const IndexSpec& i) { return i.name == oi.name; });
    if (it == next.indexes.end() || !sameIndex(*it, oi)) {
      plan.drop.push_back({spec.name, oi});
      plan.diff.dropped_indexes.push_back(spec.name + "." + oi.name);
    }
  }
  for (const auto& ni : next.indexes) {
    auto it = std::find_if(old.indexes.begin(), old.indexes.end(), [&](const IndexSpec& i) { return i.name == ni.name; });
    if (it == old.indexes.end() || !sameIndex(*it, ni)) {
      plan.build.push_back({spec.name, ni});
      plan.diff.added_indexes.push_back(spec.name + "." + ni.name);
    }
  }
  return next;
}

}  // namespace

MigrationPlan planMigration(const std::optional<Catalog>& stored, const Schema& schema) {
  MigrationPlan plan;
  plan.next.schema_version = schema.version();
  if (stored) {
    for (const auto& t : stored->tables) {
      if (schema.find(t.name) == nullptr) refuse("table '" + t.name + "' was dropped or renamed");
    }
    plan.diff.version_changed = stored->schema_version != schema.version();
  }
  for (const auto& spec : schema.tables()) {
    const CatalogTable* old = stored ? stored->find(spec->name) : nullptr;
    if (old == nullptr) {
      plan.next.tables.push_back(newTable(*spec));
      plan.new_tables.push_back(spec->name);
      plan.diff.added_tables.push_back(spec->name);
      continue;
    }
    plan.next.tables.push_back(migrateTable(*old, *spec, plan));
  }
  return plan;
}

}  // namespace plasma::detail
