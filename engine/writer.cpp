// Writes: insert, update, delete with type checks, NOT NULL, defaults,
// primary-key and unique constraints, foreign keys with their onDelete
// actions, index maintenance and change-log entries — all inside the
// caller's transaction.
//
// Statement atomicity: if a statement throws, the transaction is marked
// failed and can no longer be used or committed; Database::write() then
// aborts it, so nothing of it remains.
#include <algorithm>
#include <cassert>
#include <unordered_set>

#include <boost/json.hpp>

#include "engine/json_value.hpp"
#include "engine/keys.hpp"
#include "engine/store.hpp"
#include "plasma/database.hpp"
#include "plasma/error.hpp"
#include "query/eval.hpp"

namespace plasma {
namespace detail {

namespace {

std::string where(const BoundTable& t, std::uint32_t col) { return t.spec->name + "." + t.spec->columns[col].name; }

// Checks a value for column `col`; NULL is checked by checkNotNull.
void checkValue(const BoundTable& t, std::uint32_t col, const Value& v) {
  const ColumnSpec& c = t.spec->columns[col];
  if (v.isNull()) return;
  if (v.kind() != c.kind()) {
    throw Error(ErrorCode::TypeMismatch, "column " + where(t, col) + ": expected " + std::string(kindName(c.kind())) +
                                             ", got " + std::string(kindName(v.kind())) + " " + v.toString());
  }
  if (c.kind() == Kind::Json) {
    boost::system::error_code ec;
    const boost::json::value parsed = boost::json::parse(v.asJson(), ec);
    const std::string_view text = v.asJson();
    auto quote = [&] { return std::string(text.substr(0, 80)) + (text.size() > 80 ? "..." : ""); };
    if (ec) {
      throw Error(ErrorCode::TypeMismatch,
                  "column " + where(t, col) + ": not valid JSON (" + ec.message() + "): " + quote());
    }
    // As a JSON object insert refuses it (valueFromJson): the row's JSON form
    // (JSON pulls, toJson) could not carry the number.
    if (!jsonNumbersFinite(parsed)) {
      throw Error(ErrorCode::TypeMismatch, "column " + where(t, col) +
                                               ": JSON with a number too large for a double (it reads as infinity): " +
                                               quote());
    }
  }
  if (c.kind() == Kind::File) {
    const FileRef& f = v.asFile();
    if (f.hash.empty() || f.size < 0) {
      throw Error(ErrorCode::TypeMismatch, "column " + where(t, col) + ": a file reference needs a hash and a size >= 0");
    }
    if (c.file.max_size_bytes > 0 && f.size > c.file.max_size_bytes) {
      throw Error(ErrorCode::InvalidArgument, "column " + where(t, col) + ": file of " + std::to_string(f.size) +
                                                  " bytes exceeds maxSize " + std::to_string(c.file.max_size_bytes));
    }
    const auto& allow = c.file.mime_allow_list;
    if (!allow.empty() && std::find(allow.begin(), allow.end(), f.mime) == allow.end()) {
      throw Error(ErrorCode::InvalidArgument, "column " + where(t, col) + ": MIME type '" + f.mime + "' is not allowed");
    }
  }
}

void checkNotNull(const BoundTable& t, std::uint32_t col, const Value& v) {
  if (v.isNull() && !t.spec->columns[col].nullable) {
    throw Error(ErrorCode::NotNull, "column " + where(t, col) + ": NOT NULL constraint failed");
  }
}

void checkId(const BoundTable& t, const Value& id) {
  if (id.kind() != Kind::Text || id.asText().empty()) {
    throw Error(ErrorCode::PrimaryKey, "table '" + t.spec->name + "': the id must be a non-empty string");
  }
  if (id.asText().size() > Limits::kMaxIdBytes) {
    throw Error(ErrorCode::PrimaryKey, "table '" + t.spec->name + "': id of " + std::to_string(id.asText().size()) +
                                           " bytes exceeds the limit of " + std::to_string(Limits::kMaxIdBytes));
  }
}

std::uint32_t columnOf(const BoundTable& t, const AnyColumn& c) {
  if (c.table != t.spec) {
    throw Error(ErrorCode::UnknownColumn, "column " + c.table->name + "." + c.spec().name +
                                              " is not a column of table '" + t.spec->name + "'");
  }
  return c.index;
}

std::uint32_t columnNamed(const BoundTable& t, std::string_view name) {
  const int i = t.spec->findColumn(name);
  if (i < 0) throw Error(ErrorCode::UnknownColumn, "table '" + t.spec->name + "' has no column '" + std::string(name) + "'");
  return static_cast<std::uint32_t>(i);
}

// Column assignments of one statement, by column index.
using Provided = std::vector<std::optional<Value>>;

Provided fromAssignments(const BoundTable& t, const RowInput& row) {
  Provided p(t.spec->columns.size());
  for (const auto& a : row) {
    const std::uint32_t col = columnOf(t, a.column);
    if (p[col]) throw Error(ErrorCode::InvalidArgument, "column " + where(t, col) + " is assigned twice");
    p[col] = a.value;
  }
  return p;
}

Provided fromJson(const BoundTable& t, const boost::json::object& row) {
  Provided p(t.spec->columns.size());
  for (const auto& [key, value] : row) {
    const std::uint32_t col = columnNamed(t, key);
    p[col] = valueFromJson(*t.spec, t.spec->columns[col], value);
  }
  return p;
}

std::string rowKeyForIndex(const BoundTable& t, const BoundIndex& index, const std::vector<Value>& values, bool* has_null) {
  std::string key;
  *has_null = false;
  for (auto c : index.columns) {
    *has_null = *has_null || values[c].isNull();
    keys::encodeKeyPart(values[c], key);
  }
  if (key.size() > Limits::kMaxKeyBytes) {
    throw Error(ErrorCode::InvalidArgument, "table '" + t.spec->name + "', index '" + index.spec.name + "': value of " +
                                                std::to_string(key.size()) + " encoded bytes is too long to index (limit " +
                                                std::to_string(Limits::kMaxKeyBytes) + ")");
  }
  return key;
}

std::string describeKey(const BoundTable& t, const BoundIndex& index, const std::vector<Value>& values) {
  std::string cols, vals;
  for (std::size_t i = 0; i < index.columns.size(); ++i) {
    cols += (i ? ", " : "") + t.spec->columns[index.columns[i]].name;
    vals += (i ? ", " : "") + values[index.columns[i]].toString();
  }
  return index.columns.size() == 1 ? t.spec->name + "." + cols + " = " + vals
                                   : t.spec->name + "(" + cols + ") = (" + vals + ")";
}

class Writer {
 public:
  explicit Writer(TxnState& s) : s_(s), db_(s.db) {}

  void insert(BoundTable& t, Provided provided) {
    std::vector<Value> values(t.spec->columns.size());
    for (std::uint32_t i = 0; i < values.size(); ++i) {
      const ColumnSpec& c = t.spec->columns[i];
      if (provided[i]) {
        values[i] = std::move(*provided[i]);
      } else if (c.default_value) {
        values[i] = *c.default_value;
      } else if (!c.nullable) {
        throw Error(ErrorCode::NotNull, "column " + where(t, i) + ": NOT NULL constraint failed (no value and no default)");
      }
      checkValue(t, i, values[i]);
      checkNotNull(t, i, values[i]);
    }
    const Value& id = values[t.layout->id_column];
    checkId(t, id);
    checkParents(t, values, nullptr);
    const auto bytes = encode(t, values);
    if (s_.write_auth) s_.checkWriteAuth(t, db_.view(t, id.asText(), asView(bytes)), "insert into");
    if (!s_.txn.put(t.rows, id.asText(), asView(bytes), MDB_NOOVERWRITE)) {
      throw Error(ErrorCode::PrimaryKey, "table '" + t.spec->name + "': a row with id '" + id.asText() + "' already exists");
    }
    for (const auto& index : t.indexes) addIndexEntry(t, index, values, id.asText());
    if (t.logged) db_.appendChange(s_, t, ChangeOp::Put, id.asText(), bytes, /*existed=*/false, {});
    if (s_.capture) s_.recordChange(t.spec, id.asText(), std::nullopt, owned(t, id.asText(), bytes));
  }

  // Applies `provided` to the row `id`. REQUIRES: the row exists. `row`:
  // the row as just read, when the caller has it.
  void update(BoundTable& t, const std::string& id, const Provided& provided, const RowView* row = nullptr) {
    auto current = row != nullptr ? std::optional<RowView>(*row) : db_.get(s_, t, id);
    assert(current.has_value());
    if (s_.write_auth) s_.checkWriteAuth(t, *current, "update");
    std::vector<Value> old_values = decodeRow(*current);
    std::optional<OwnedRow> before;
    if (s_.capture) before = current->toOwned();
    std::vector<Value> values = old_values;
    for (std::uint32_t i = 0; i < values.size(); ++i) {
      if (!provided[i]) continue;
      values[i] = *provided[i];
      checkValue(t, i, values[i]);
      checkNotNull(t, i, values[i]);
    }
    checkParents(t, values, &old_values);
    const auto bytes = encode(t, values);
    if (s_.write_auth) s_.checkWriteAuth(t, db_.view(t, id, asView(bytes)), "update");
    // The old bytes for the log, before the put may overwrite them in place.
    if (t.log_before_row) s_.before_scratch.assign(asView(current->bytes()));
    s_.txn.put(t.rows, id, asView(bytes));
    for (const auto& index : t.indexes) {
      bool old_null = false, new_null = false;
      const std::string old_key = rowKeyForIndex(t, index, old_values, &old_null);
      const std::string new_key = rowKeyForIndex(t, index, values, &new_null);
      if (old_key == new_key) continue;
      const std::string_view idv(id);
      s_.txn.del(index.dbi, old_key, &idv);
      addIndexEntry(t, index, values, id);
    }
    if (t.logged) {
      db_.appendChange(s_, t, ChangeOp::Put, id, bytes, /*existed=*/true,
                       t.log_before_row ? asSpan(s_.before_scratch) : std::span<const std::uint8_t>());
    }
    if (s_.capture) s_.recordChange(t.spec, id, std::move(before), owned(t, id, bytes));
  }

  struct DeferredCheck {
    BoundTable* child;
    std::uint32_t column;
    BoundTable* parent;
    std::string id;
  };

  // Deletes row `id` of `t` and applies the foreign-key actions of rows
  // that reference it. Returns false if the row was already gone.
  bool remove(BoundTable& t, const std::string& id, std::vector<DeferredCheck>& deferred, std::size_t& cascaded,
              const RowView* row = nullptr) {
    if (!deleted_.insert(t.spec->name + '\0' + id).second) return false;
    auto current = row != nullptr ? std::optional<RowView>(*row) : db_.get(s_, t, id);
    if (!current) return false;
    if (s_.write_auth) s_.checkWriteAuth(t, *current, "delete from");
    const std::vector<Value> values = decodeRow(*current);
    std::optional<OwnedRow> before;
    if (s_.capture) before = current->toOwned();
    // The old bytes for the log: cascades below may rewrite this page.
    std::string before_row;
    if (t.log_before_row) before_row.assign(asView(current->bytes()));
    for (const ChildRef& ref : t.children) applyOnDelete(t, id, ref, deferred, cascaded);
    for (const auto& index : t.indexes) {
      bool has_null = false;
      const std::string key = rowKeyForIndex(t, index, values, &has_null);
      const std::string_view idv(id);
      s_.txn.del(index.dbi, key, &idv);
    }
    s_.txn.del(t.rows, id);
    if (t.logged) db_.appendChange(s_, t, ChangeOp::Del, id, {}, /*existed=*/true, asSpan(before_row));
    if (s_.capture) s_.recordChange(t.spec, id, std::move(before), std::nullopt);
    return true;
  }

  void checkDeferred(const std::vector<DeferredCheck>& deferred) {
    for (const auto& d : deferred) {
      if (!referencing(*d.child, d.column, d.id).empty()) {
        throw Error(ErrorCode::ForeignKey, "cannot delete " + d.parent->spec->name + " '" + d.id + "': rows of " +
                                               where(*d.child, d.column) + " still reference it (onDelete noAction)");
      }
    }
  }

  // Ids of rows of `child` whose `column` equals `id`.
  std::vector<std::string> referencing(const BoundTable& child, std::uint32_t column, const std::string& id) {
    std::vector<std::string> out;
    const BoundIndex* index = child.indexLeadingWith(column);
    assert(index != nullptr && "every foreign-key column leads an index");
    std::string prefix;
    keys::encodeKeyPart(Value(id), prefix);
    lmdb::Cursor cur(s_.txn, index->dbi);
    for (bool ok = cur.seekRange(prefix); ok && cur.key().starts_with(prefix); ok = cur.next()) {
      out.emplace_back(cur.value());
    }
    return out;
  }

 private:
  static std::string_view asView(std::span<const std::uint8_t> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }
  static std::span<const std::uint8_t> asSpan(std::string_view b) {
    return {reinterpret_cast<const std::uint8_t*>(b.data()), b.size()};
  }

  static OwnedRow owned(const BoundTable& t, std::string_view id, std::span<const std::uint8_t> bytes) {
    return OwnedRow(t.layout, std::string(id), std::string(asView(bytes)));
  }

  std::span<const std::uint8_t> encode(const BoundTable& t, const std::vector<Value>& values) {
    const auto bytes = s_.encoder.encode(*t.layout, values);
    verifyRow(*t.layout, bytes);  // paired check: what we write must read back
    return bytes;
  }

  void addIndexEntry(const BoundTable& t, const BoundIndex& index, const std::vector<Value>& values, std::string_view id) {
    bool has_null = false;
    const std::string key = rowKeyForIndex(t, index, values, &has_null);
    if (index.spec.unique && !has_null) {
      lmdb::Cursor cur(s_.txn, index.dbi);
      if (cur.seek(key) && cur.value() != id) {
        throw Error(ErrorCode::Unique, "unique constraint failed: " + describeKey(t, index, values) +
                                           " already exists (row '" + std::string(cur.value()) + "')");
      }
    }
    s_.txn.put(index.dbi, key, id, MDB_NODUPDATA);
  }

  // Every non-NULL foreign key must name an existing parent row (only
  // changed ones are checked when `old` is given).
  void checkParents(const BoundTable& t, const std::vector<Value>& values, const std::vector<Value>* old) {
    for (const auto& [col, parent] : t.parents) {
      const Value& v = values[col];
      if (v.isNull() || (old != nullptr && (*old)[col] == v)) continue;
      const std::string& key = v.asText();
      if (key.empty() || key.size() > Limits::kMaxIdBytes || !s_.txn.get(parent->rows, key)) {
        throw Error(ErrorCode::ForeignKey, "foreign key failed: " + where(t, col) + " = " + v.toString() +
                                               " names no row of table '" + parent->spec->name + "'");
      }
    }
  }

  void applyOnDelete(BoundTable& parent, const std::string& id, const ChildRef& ref,
                     std::vector<DeferredCheck>& deferred, std::size_t& cascaded) {
    std::vector<std::string> ids = referencing(*ref.child, ref.column, id);
    std::erase_if(ids, [&](const std::string& cid) { return deleted_.contains(ref.child->spec->name + '\0' + cid); });
    if (ids.empty()) return;
    switch (ref.on_delete) {
      case OnDelete::Restrict:
        throw Error(ErrorCode::ForeignKey, "cannot delete " + parent.spec->name + " '" + id + "': row '" + ids.front() +
                                               "' of " + where(*ref.child, ref.column) + " references it (onDelete restrict)");
      case OnDelete::Cascade:
        for (const auto& cid : ids) cascaded += remove(*ref.child, cid, deferred, cascaded) ? 1 : 0;
        return;
      case OnDelete::SetNull: {
        Provided p(ref.child->spec->columns.size());
        p[ref.column] = Value();
        for (const auto& cid : ids) {
          update(*ref.child, cid, p);
          ++cascaded;
        }
        return;
      }
      case OnDelete::NoAction:
        deferred.push_back({ref.child, ref.column, &parent, id});
        return;
    }
  }

  TxnState& s_;
  DatabaseImpl& db_;
  std::unordered_set<std::string> deleted_;
};

// Calls fn(id, row) for each row of `t` that `predicate` selects (every
// row when empty). `row` is the row as just read when the predicate is
// `id = 'literal'` (how mutators usually address one row: one lookup);
// otherwise nullptr, and the ids are collected first (fn writes).
template <class F>
void forEachMatching(TxnState& s, BoundTable& t, const Expr& predicate, F&& fn) {
  if (predicate) {
    query::checkColumnsBelongTo(predicate, *t.spec);
    const ExprNode& n = predicate.node();
    if (n.op == ExprOp::Eq && n.children[0].node().op == ExprOp::Column &&
        n.children[0].node().column == t.layout->id_column && n.children[1].node().op == ExprOp::Literal &&
        n.children[1].node().value.kind() == Kind::Text) {
      const std::string& id = n.children[1].node().value.asText();
      if (const auto row = s.db.get(s, t, id)) fn(id, &*row);
      return;
    }
  }
  std::vector<std::string> ids;
  lmdb::Cursor cur(s.txn, t.rows);
  for (bool ok = cur.first(); ok; ok = cur.next()) {
    if (!predicate || query::matches(predicate, query::RowSource(s.db.view(t, cur.key(), cur.value())))) {
      ids.emplace_back(cur.key());
    }
  }
  for (const auto& id : ids) fn(id, nullptr);
}

template <class F>
WriteResult guarded(TxnState& s, F&& body) {
  if (!s.writable()) throw Error(ErrorCode::InvalidArgument, "writes need a write transaction");
  s.checkUsable();
  try {
    return body();
  } catch (const std::exception& e) {
    s.failed = e.what();
    throw;
  }
}

WriteResult runUpdate(TxnState& s, const Table& table, const RowInput& set, const Expr& predicate) {
  return guarded(s, [&] {
    BoundTable& t = s.db.table(table);
    const Provided provided = fromAssignments(t, set);
    if (provided[t.layout->id_column]) {
      throw Error(ErrorCode::PrimaryKey, "table '" + t.spec->name + "': the id of a row cannot be changed");
    }
    Writer w(s);
    std::size_t updated = 0;
    forEachMatching(s, t, predicate, [&](const std::string& id, const RowView* row) {
      w.update(t, id, provided, row);
      ++updated;
    });
    return WriteResult{updated, 0};
  });
}

WriteResult runDelete(TxnState& s, const Table& table, const Expr& predicate) {
  return guarded(s, [&] {
    BoundTable& t = s.db.table(table);
    Writer w(s);
    std::vector<Writer::DeferredCheck> deferred;
    WriteResult r;
    forEachMatching(s, t, predicate, [&](const std::string& id, const RowView* row) {
      if (w.remove(t, id, deferred, r.rows_cascaded, row)) ++r.rows_affected;
    });
    w.checkDeferred(deferred);
    return r;
  });
}

}  // namespace

}  // namespace detail

// ---- statements ------------------------------------------------------------------

WriteResult InsertStatement::values(const RowInput& row) { return values(std::vector<RowInput>{row}); }

WriteResult InsertStatement::values(const std::vector<RowInput>& rows) {
  detail::TxnState& s = tx_->state();
  return detail::guarded(s, [&] {
    detail::BoundTable& t = s.db.table(*table_);
    detail::Writer w(s);
    for (const auto& row : rows) w.insert(t, detail::fromAssignments(t, row));
    return WriteResult{rows.size(), 0};
  });
}

WriteResult Tx::putRow(const Table& table, std::string_view id, std::span<const std::uint8_t> row) {
  detail::TxnState& s = state();
  return detail::guarded(s, [&] {
    detail::BoundTable& t = s.db.table(table);
    const std::string key(id);
    if (key.empty()) throw Error(ErrorCode::InvalidArgument, "putRow: table '" + t.spec->name + "': empty id");
    detail::verifyRow(*t.layout, row);
    const auto current = s.db.get(s, t, key);
    if (current && current->bytes().size() == row.size() &&
        std::equal(row.begin(), row.end(), current->bytes().begin())) {
      return WriteResult{0, 0};
    }
    const RowView view(t.layout.get(), row.data(), row.size(), key);
    std::vector<Value> values = detail::decodeRow(view);
    detail::Provided provided(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) provided[i] = std::move(values[i]);
    detail::Writer w(s);
    if (current) {
      w.update(t, key, provided);
    } else {
      w.insert(t, std::move(provided));
    }
    return WriteResult{1, 0};
  });
}

WriteResult InsertStatement::values(const boost::json::object& row) {
  detail::TxnState& s = tx_->state();
  return detail::guarded(s, [&] {
    detail::BoundTable& t = s.db.table(*table_);
    detail::Writer(s).insert(t, detail::fromJson(t, row));
    return WriteResult{1, 0};
  });
}

UpdateStatement& UpdateStatement::set(RowInput assignments) {
  set_ = std::move(assignments);
  return *this;
}

UpdateStatement& UpdateStatement::set(const boost::json::object& assignments) {
  detail::TxnState& s = tx_->state();
  detail::BoundTable& t = s.db.table(*table_);
  const detail::Provided p = detail::fromJson(t, assignments);
  set_.clear();
  for (std::uint32_t i = 0; i < p.size(); ++i) {
    if (p[i]) set_.emplace_back(AnyColumn{t.spec, i}, *p[i]);
  }
  return *this;
}

WriteResult UpdateStatement::where(const Expr& predicate) {
  if (!predicate) throw Error(ErrorCode::InvalidArgument, "update ... where(): empty predicate; use all()");
  return detail::runUpdate(tx_->state(), *table_, set_, predicate);
}
WriteResult UpdateStatement::all() { return detail::runUpdate(tx_->state(), *table_, set_, Expr()); }

WriteResult DeleteStatement::where(const Expr& predicate) {
  if (!predicate) throw Error(ErrorCode::InvalidArgument, "deleteFrom ... where(): empty predicate; use all()");
  return detail::runDelete(tx_->state(), *table_, predicate);
}
WriteResult DeleteStatement::all() { return detail::runDelete(tx_->state(), *table_, Expr()); }

}  // namespace plasma
