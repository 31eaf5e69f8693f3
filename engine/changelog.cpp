// The change log: `_changes` (big-endian row_version -> ChangeEntry) and
// `_latest` (table \0 id -> newest row_version of that row). See
// docs/change_log_format.md.
#include <cassert>
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <xxhash.h>

#include "engine/keys.hpp"
#include "engine/store.hpp"
#include "plasma/database.hpp"
#include "plasma/error.hpp"
#include "plasma/fbs/change_entry_generated.h"

namespace plasma {
namespace detail {

namespace fb = flatbuffers;

namespace {

std::string latestKey(std::string_view table, std::string_view id) {
  std::string k;
  k.reserve(table.size() + 1 + id.size());
  k.append(table);
  k.push_back('\0');
  k.append(id);
  return k;
}


// `_meta` key of the highest horizon the log was compacted to (8-byte
// big-endian); absent when it never was.
constexpr std::string_view kCompactionHorizonKey = "compaction_horizon";

std::uint64_t readHead(const lmdb::Txn& txn, MDB_dbi meta) {
  auto v = txn.get(meta, "head");
  return v ? keys::decodeU64(lmdb::toView(*v)) : 0;
}

}  // namespace

std::uint64_t DatabaseImpl::head(const TxnState& s) const {
  if (s.head) return *s.head;
  return readHead(s.txn, meta);
}

std::uint64_t DatabaseImpl::durableHead(const TxnState& s) const {
  const std::uint64_t h = head(s);
  if (options.durability != Durability::Wal) return h;
  return std::min(h, durable_head_.load(std::memory_order_acquire));
}

std::uint64_t DatabaseImpl::compactionHorizon(const TxnState& s) const {
  auto v = s.txn.get(meta, kCompactionHorizonKey);
  return v ? keys::decodeU64(lmdb::toView(*v)) : 0;
}

// Buffers the entry just built in s.entry_builder as `version` (the next
// one) and moves the head; DatabaseImpl::flushLog writes buffered entries.
void DatabaseImpl::queueEntry(TxnState& s, std::uint64_t version) {
  const auto& b = s.entry_builder;
  TxnState::PendingEntry p;
  p.version = version;
  p.entry_begin = static_cast<std::uint32_t>(s.log_arena.size());
  p.entry_size = b.GetSize();
  s.log_arena.append(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
  s.log_pending.push_back(p);
  s.head = version;
  s.head_dirty = true;
  if (s.log_arena.size() >= Limits::kLogBufferBytes) flushLog(s);
}

void DatabaseImpl::appendChange(TxnState& s, const BoundTable& t, ChangeOp op, std::string_view id,
                                std::span<const std::uint8_t> row, bool existed,
                                std::span<const std::uint8_t> before_row) {
  assert(t.logged);
  assert(op == ChangeOp::Del || !row.empty());
  assert(existed || before_row.empty());
  if (!s.head) s.head = readHead(s.txn, meta);
  const std::uint64_t version = *s.head + 1;
  auto& b = s.entry_builder;
  b.Clear();
  const auto table = b.CreateString(t.spec->name);
  const auto idoff = b.CreateString(id);
  fb::Offset<fb::Vector<std::uint8_t>> rowoff;
  if (op == ChangeOp::Put) {
    b.ForceVectorAlignment(row.size(), sizeof(std::uint8_t), 8);  // keep the nested row 8-aligned
    rowoff = b.CreateVector(row.data(), row.size());
  }
  fb::Offset<fb::Vector<std::uint8_t>> beforeoff;
  if (!before_row.empty()) {
    b.ForceVectorAlignment(before_row.size(), sizeof(std::uint8_t), 8);
    beforeoff = b.CreateVector(before_row.data(), before_row.size());
  }
  const auto group = b.CreateString(s.context.client_group_id);
  const auto client = b.CreateString(s.context.client_id);
  b.Finish(fbs::CreateChangeEntry(b, op == ChangeOp::Put ? fbs::ChangeOp::Put : fbs::ChangeOp::Del, table, idoff,
                                  rowoff, group, client, s.context.mutation_id,
                                  existed ? fbs::Before::Present : fbs::Before::Absent, beforeoff));
  queueEntry(s, version);
}

std::string confirmLatestKey(std::string_view group, std::string_view client) {
  // The pseudo-table "\x01" cannot clash with a table name (names are identifiers).
  std::string k("\x01\0", 2);
  k.append(group).push_back('\0');
  k.append(client);
  return k;
}

std::uint64_t DatabaseImpl::appendConfirm(TxnState& s, std::string_view group, std::string_view client,
                                          std::int64_t mutation_id) {
  if (!s.head) s.head = readHead(s.txn, meta);
  const std::uint64_t version = *s.head + 1;
  auto& b = s.entry_builder;
  b.Clear();
  const auto g = b.CreateString(group);
  const auto c = b.CreateString(client);
  fbs::ChangeEntryBuilder e(b);
  e.add_op(fbs::ChangeOp::Confirm);
  e.add_client_group_id(g);
  e.add_client_id(c);
  e.add_mutation_id(mutation_id);
  b.Finish(e.Finish());
  queueEntry(s, version);
  return version;
}

void DatabaseImpl::flushLog(TxnState& s) {
  const std::string_view arena(s.log_arena);
  for (const auto& p : s.log_pending) {
    // Keys only grow: MDB_APPEND fails loudly (MDB_KEYEXIST) if the sequence breaks.
    if (!s.txn.put(changes, keys::encodeU64(p.version), arena.substr(p.entry_begin, p.entry_size), MDB_APPEND)) {
      throw Error(ErrorCode::Storage, "change log: version " + std::to_string(p.version) + " is not past the log's end");
    }
  }
  s.log_pending.clear();
  s.log_arena.clear();
}

Change DatabaseImpl::decodeChange(std::uint64_t version, std::string_view bytes) {
  fb::Verifier v(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  if (!fbs::VerifyChangeEntryBuffer(v)) {
    throw Error(ErrorCode::CorruptRow, "change log: entry " + std::to_string(version) + " is malformed");
  }
  const auto* e = fbs::GetChangeEntry(bytes.data());
  Change c;
  c.version = version;
  c.op = e->op() == fbs::ChangeOp::Del ? ChangeOp::Del
         : e->op() == fbs::ChangeOp::Confirm ? ChangeOp::Confirm
                                              : ChangeOp::Put;
  c.table = e->table() ? e->table()->str() : std::string();
  c.id = e->id() ? e->id()->str() : std::string();
  c.client_group_id = e->client_group_id() ? e->client_group_id()->str() : std::string();
  c.client_id = e->client_id() ? e->client_id()->str() : std::string();
  c.mutation_id = e->mutation_id();
  if (c.op == ChangeOp::Put) {
    BoundTable* t = tableByName(c.table);
    if (t == nullptr || e->row() == nullptr) {
      throw Error(ErrorCode::CorruptRow, "change log: entry " + std::to_string(version) + " names unknown table '" + c.table + "'");
    }
    std::span<const std::uint8_t> row(e->row()->data(), e->row()->size());
    verifyRow(*t->layout, row);
    c.row.emplace(t->layout, c.id, std::string(reinterpret_cast<const char*>(row.data()), row.size()));
  }
  return c;
}

}  // namespace detail

// ---- public API ------------------------------------------------------------------

std::uint64_t Database::headVersion() const {
  return read([&](ReadTx& r) { return impl_->head(r.state()); });
}

std::vector<Change> Database::logEntries(std::uint64_t after, std::uint64_t upto) const {
  return read([&](ReadTx& r) {
    std::vector<Change> out;
    lmdb::Cursor cur(r.state().txn, impl_->changes);
    for (bool ok = cur.seekRange(keys::encodeU64(after + 1)); ok; ok = cur.next()) {
      const std::uint64_t version = keys::decodeU64(cur.key());
      if (upto != 0 && version > upto) break;
      out.push_back(impl_->decodeChange(version, cur.value()));
    }
    return out;
  });
}

std::vector<Change> Database::changesSince(std::uint64_t cookie) const {
  return read([&](ReadTx& r) {
    impl_->requireReady();
    std::vector<Change> out;
    // (table \0 id) -> position in `out` of that row's newest entry so far.
    std::unordered_map<std::string, std::size_t, detail::KeyHash> newest;
    std::vector<bool> superseded;
    lmdb::Cursor cur(r.state().txn, impl_->changes);
    for (bool ok = cur.seekRange(keys::encodeU64(cookie + 1)); ok; ok = cur.next()) {
      Change c = impl_->decodeChange(keys::decodeU64(cur.key()), cur.value());
      if (c.op == ChangeOp::Confirm) continue;  // sync bookkeeping, not a row
      auto [it, inserted] = newest.try_emplace(detail::latestKey(c.table, c.id), out.size());
      if (!inserted) {
        superseded[it->second] = true;
        it->second = out.size();
      }
      out.push_back(std::move(c));
      superseded.push_back(false);
    }
    std::vector<Change> result;
    result.reserve(newest.size());
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (!superseded[i]) result.push_back(std::move(out[i]));
    }
    return result;
  });
}

CompactionResult Database::compactChangeLog(std::uint64_t safe_up_to_version) {
  impl_->requireReady();
  const std::uint64_t h = safe_up_to_version;
  CompactionResult result;
  if (h == 0) return result;
  // Record the horizon before folding anything (pulls read it in the same
  // snapshot as the log): below it, an entry's `before` no longer tells the
  // row's state at a cookie, since older entries of the row may be gone.
  write([&](Tx& tx) {
    auto& s = tx.state();
    if (impl_->compactionHorizon(s) < h) s.txn.put(impl_->meta, detail::kCompactionHorizonKey, keys::encodeU64(h));
  });
  // Scanning the log backwards from the horizon, the first entry met for a
  // row is its newest at or below the horizon: it stays; every older one
  // goes. Rows are remembered by a 128-bit hash of (table, id) — or of
  // (group, client) for Confirm entries. To bound memory on huge logs the
  // key space is split into partitions, one backward pass each.
  const std::uint64_t entries = read([&](ReadTx& r) { return r.state().txn.entries(impl_->changes); });
  const std::uint64_t partitions = std::max<std::uint64_t>(1, (entries + detail::Limits::kCompactionKeysPerPass - 1) /
                                                                  detail::Limits::kCompactionKeysPerPass);
  struct Hash128 {
    std::size_t operator()(const XXH128_hash_t& h) const noexcept { return static_cast<std::size_t>(h.low64); }
  };
  struct Eq128 {
    bool operator()(const XXH128_hash_t& a, const XXH128_hash_t& b) const noexcept { return XXH128_isEqual(a, b); }
  };
  std::string key;
  for (std::uint64_t part = 0; part < partitions; ++part) {
    std::unordered_set<XXH128_hash_t, Hash128, Eq128> seen;
    std::uint64_t next = h;  // the newest version not yet looked at
    bool done = false;
    // In batches, so that writers are never held up for long.
    while (!done) {
      write([&](Tx& tx) {
        auto& s = tx.state();
        std::vector<std::uint64_t> doomed;
        lmdb::Cursor cur(s.txn, impl_->changes);
        // The entry at `next`, or the nearest one below it.
        bool ok = cur.seekRange(keys::encodeU64(next));
        if (!ok || keys::decodeU64(cur.key()) > next) ok = ok ? cur.prev() : cur.last();
        for (std::size_t n = 0; n < detail::Limits::kCompactionBatch; ++n) {
          if (!ok) {
            done = true;
            break;
          }
          const std::uint64_t version = keys::decodeU64(cur.key());
          const std::string_view value = cur.value();
          flatbuffers::Verifier v(reinterpret_cast<const std::uint8_t*>(value.data()), value.size());
          if (!fbs::VerifyChangeEntryBuffer(v)) {
            throw Error(ErrorCode::CorruptRow, "change log: entry " + std::to_string(version) + " is malformed");
          }
          const auto* e = fbs::GetChangeEntry(value.data());
          auto str = [](const flatbuffers::String* x) { return x ? x->string_view() : std::string_view(); };
          key = e->op() == fbs::ChangeOp::Confirm ? detail::confirmLatestKey(str(e->client_group_id()), str(e->client_id()))
                                                  : detail::latestKey(str(e->table()), str(e->id()));
          const XXH128_hash_t hash = XXH3_128bits(key.data(), key.size());
          if (partitions == 1 || hash.high64 % partitions == part) {
            if (seen.insert(hash).second) {
              ++result.kept;
            } else {
              doomed.push_back(version);
            }
          }
          if (version == 1) {
            done = true;
            break;
          }
          next = version - 1;
          ok = cur.prev();
        }
        for (const auto v : doomed) s.txn.del(impl_->changes, keys::encodeU64(v));
        result.removed += doomed.size();
      });
    }
  }
  return result;
}

Snapshot Database::snapshotAsOf(std::uint64_t cookie) const {
  Snapshot out;
  for (const auto& t : impl_->schema.tables()) out[t->name];
  read([&](ReadTx& r) {
    impl_->requireReady();
    lmdb::Cursor cur(r.state().txn, impl_->changes);
    for (bool ok = cur.first(); ok; ok = cur.next()) {
      const std::uint64_t version = keys::decodeU64(cur.key());
      if (version > cookie) break;
      Change c = impl_->decodeChange(version, cur.value());
      if (c.op == ChangeOp::Confirm) continue;
      auto& rows = out[c.table];
      if (c.op == ChangeOp::Del) {
        rows.erase(c.id);
      } else {
        rows.insert_or_assign(c.id, std::move(*c.row));
      }
    }
  });
  return out;
}

}  // namespace plasma
