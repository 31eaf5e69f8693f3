// The server side of the sync protocol: push with group commit, pull from
// the change log. See sync/server.hpp and docs/protocol.md.
//
// Storage it adds on top of the engine (docs/change_log_format.md):
// - `_clients`: (clientGroupID \0 clientID) -> lastMutationID (i64 LE) and
//   the row_version of that client's newest Confirm entry (u64 LE); and
//   (clientGroupID \0) -> the group's owner, when requests name one (client
//   IDs are never empty, so the two kinds of key cannot meet).
// - a Confirm entry in `_changes` after each processed mutation, so the
//   cookie moves even for a mutation that failed, pulls can cut pages at
//   mutation boundaries, and lastMutationIDChanges comes out of the same
//   range scan as the patch.
#include "sync/server.hpp"

#include <algorithm>
#include <bit>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <variant>

#include "engine/keys.hpp"
#include "engine/store.hpp"

// After store.hpp (which includes it plainly): the pull's row index hashes
// short ids, where the inlined functions save most of the call.
#define XXH_INLINE_ALL
#include <xxhash.h>
#include "plasma/fbs/change_entry_generated.h"
#include "query/eval.hpp"
#include "sync/codec.hpp"

namespace plasma::sync {

namespace {

using plasma::detail::DatabaseImpl;
using plasma::detail::TxnState;
using plasma::detail::OrderedScan;

std::string clientKey(std::string_view group, std::string_view client) {
  std::string k;
  k.reserve(group.size() + 1 + client.size());
  k.append(group).push_back('\0');
  k.append(client);
  return k;
}

struct ClientRecord {
  std::int64_t last_mutation_id = 0;
  std::uint64_t version = 0;
};

std::optional<ClientRecord> readClient(const lmdb::Txn& txn, MDB_dbi dbi, std::string_view key) {
  auto v = txn.get(dbi, key);
  if (!v) return std::nullopt;
  const std::string_view bytes = lmdb::toView(*v);
  if (bytes.size() != 16) throw SyncError(SyncErrorKind::Internal, "_clients: malformed record");
  ClientRecord r;
  std::memcpy(&r.last_mutation_id, bytes.data(), 8);
  std::memcpy(&r.version, bytes.data() + 8, 8);
  return r;
}

void writeClient(lmdb::Txn& txn, MDB_dbi dbi, std::string_view key, const ClientRecord& r) {
  char bytes[16];
  std::memcpy(bytes, &r.last_mutation_id, 8);
  std::memcpy(bytes + 8, &r.version, 8);
  txn.put(dbi, key, std::string_view(bytes, 16));
}

// Refuses a request by `owner` for a group another owner claimed.
// Returns true when the group has no owner yet.
bool checkOwner(const lmdb::Txn& txn, MDB_dbi dbi, std::string_view group, std::string_view owner) {
  if (owner.empty()) return false;
  const auto v = txn.get(dbi, clientKey(group, {}));
  if (!v) return true;
  if (lmdb::toView(*v) != owner) {
    throw SyncError(SyncErrorKind::Unauthorized,
                    "client group '" + std::string(group) + "' belongs to another user");
  }
  return false;
}

void checkSchemaVersion(const SyncOptions& o, const std::string& requested) {
  if (!o.schema_version.empty() && requested != o.schema_version) {
    throw SyncError(SyncErrorKind::VersionNotSupported,
                    "schema version mismatch: the client has '" + requested + "', the server '" + o.schema_version + "'",
                    "schema");
  }
}

std::string errorKindOf(const std::exception& e) {
  if (const auto* pe = dynamic_cast<const Error*>(&e)) return std::string(errorCodeName(pe->code()));
  return "MutatorError";
}

// A storage failure inside a mutation breaks the whole transaction, not
// just that mutation.
bool isFatal(const std::exception& e) {
  const auto* pe = dynamic_cast<const Error*>(&e);
  return pe != nullptr && (pe->code() == ErrorCode::Storage || pe->code() == ErrorCode::Poisoned);
}

}  // namespace

// ---- the writer -----------------------------------------------------------------

struct SyncServer::Impl {
  Database& db;
  MutatorRunner runner;
  SyncOptions options;

  struct Pending {
    PushRequest request;
    std::any ctx;
    PushCallback done;
    std::string owner;  // empty: the group's owner is not checked
  };

  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<Pending> queue;
  bool stopping = false;
  SyncStats stats;
  std::thread writer;

  Impl(Database& d, MutatorRunner r, SyncOptions o) : db(d), runner(std::move(r)), options(std::move(o)) {
    if (!runner) throw Error(ErrorCode::InvalidArgument, "SyncServer: a mutator runner is required");
    if (options.max_mutations_per_push == 0) {
      throw Error(ErrorCode::InvalidArgument, "SyncServer: max_mutations_per_push must be at least 1");
    }
    if (options.max_pushes_per_commit == 0) options.max_pushes_per_commit = 1;
    writer = std::thread([this] { run(); });
  }

  // A committed (or refused) batch whose pushes have not been answered yet.
  struct Done {
    std::vector<Pending> batch;
    std::vector<std::optional<PushResponse>> responses;
    std::vector<std::exception_ptr> errors;
    bool wrote = false;  // the commit changed the database

    // Takes `later`'s pushes, to be answered with this batch's.
    void append(Done&& later) {
      for (std::size_t i = 0; i < later.batch.size(); ++i) {
        batch.push_back(std::move(later.batch[i]));
        responses.push_back(std::move(later.responses[i]));
        errors.push_back(std::move(later.errors[i]));
      }
    }
  };

  // With Durability::NoMetaSync and durable acknowledgements, a commit is
  // durable only after a later data sync: the next commit's, or an explicit
  // one when no push is waiting. So a committed batch is answered after the
  // next batch commits (one sync per commit under load), or after
  // Database::sync() when the writer would otherwise go idle.
  bool pipelined() const {
    return options.durable_acks && db.impl().options.durability == Durability::NoMetaSync;
  }

  void run() {
    std::optional<Done> unsynced;
    for (;;) {
      std::vector<Pending> batch;
      {
        std::unique_lock lock(mu);
        if (!unsynced) cv.wait(lock, [&] { return stopping || !queue.empty(); });
        while (!queue.empty() && batch.size() < options.max_pushes_per_commit) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
      if (batch.empty()) {
        if (!unsynced) return;  // stopping, nothing queued, nothing owed
        syncThenDeliver(*unsynced);
        unsynced.reset();
        continue;
      }
      Done done = commitBatch(std::move(batch));
      if (!done.wrote) {
        // Nothing was written, but the answers may report mutations of the
        // batch that is not durable yet (a retry racing its original): then
        // they wait for its sync.
        if (unsynced) {
          unsynced->append(std::move(done));
        } else {
          deliver(done);
        }
      } else if (!pipelined()) {
        if (unsynced) syncThenDeliver(*unsynced);  // (only if the mode changed; kept for safety)
        unsynced.reset();
        deliver(done);
      } else {
        // This commit's data sync also flushed the previous commit's meta page.
        if (unsynced) deliver(*unsynced);
        unsynced = std::move(done);
      }
    }
  }

  void syncThenDeliver(Done& d) {
    try {
      db.sync();
    } catch (...) {
      // The commit happened but may not be durable: say so rather than ack.
      const auto failure = std::make_exception_ptr(
          SyncError(SyncErrorKind::Internal, "push committed but the sync to disk failed: retry"));
      for (std::size_t i = 0; i < d.batch.size(); ++i) {
        d.responses[i].reset();
        if (!d.errors[i]) d.errors[i] = failure;
      }
    }
    deliver(d);
  }

  void deliver(Done& d) {
    for (std::size_t i = 0; i < d.batch.size(); ++i) {
      if (d.responses[i] && options.on_pushed) {
        try {
          options.on_pushed(d.batch[i].request, *d.responses[i]);
        } catch (...) {
          // A hook's failure must not turn a committed push into an error.
        }
      }
      if (d.batch[i].done) d.batch[i].done(d.responses[i] ? &*d.responses[i] : nullptr, d.errors[i]);
    }
  }

  // One client's state while a batch is applied (a batch may hold several
  // pushes of the same client: a retry racing the original).
  struct ClientState {
    std::string key;
    std::string client_id;
    ClientRecord record;
    bool known = false;
    bool dirty = false;
  };

  ClientState& clientState(TxnState& s, std::unordered_map<std::string, ClientState>& clients,
                           std::string_view group, std::string_view client) {
    std::string key = clientKey(group, client);
    auto it = clients.find(key);
    if (it != clients.end()) return it->second;
    ClientState st;
    st.key = key;
    st.client_id = std::string(client);
    if (auto r = readClient(s.txn, db.impl().clients, key)) {
      st.record = *r;
      st.known = true;
    }
    return clients.emplace(std::move(key), std::move(st)).first->second;
  }

  // Thrown out of a fast-path batch when a mutator failed: the batch is
  // re-applied from scratch with a savepoint around every mutation.
  struct RetryWithSavepoints {};

  Done commitBatch(std::vector<Pending> pending) {
    Done out;
    out.batch = std::move(pending);
    auto& batch = out.batch;
    auto& responses = out.responses;
    auto& errors = out.errors;
    responses.resize(batch.size());
    errors.resize(batch.size());
    SyncStats delta;
    std::uint64_t careful_batches = 0;
    // Fast path first: mutations run straight in the group's transaction.
    // Failures are rare, and a nested LMDB transaction per mutation costs
    // more than the mutation itself (its dirty pages are merged into the
    // parent one by one). If any mutator throws, the whole transaction is
    // dropped and the batch re-applied with savepoints, so the failure is
    // rolled back alone. Mutators must therefore be deterministic functions
    // of the database and their arguments (as on the client, which runs
    // them again on every rebase).
    for (bool careful : {false, true}) {
      std::fill(responses.begin(), responses.end(), std::nullopt);
      std::fill(errors.begin(), errors.end(), nullptr);
      delta = {};
      try {
        db.write([&](Tx& tx) {
          TxnState& s = tx.state();
          std::unordered_map<std::string, ClientState> clients;
          for (std::size_t i = 0; i < batch.size(); ++i) {
            try {
              responses[i] = applyPush(tx, s, clients, batch[i], delta, careful);
            } catch (const SyncError&) {
              errors[i] = std::current_exception();  // refused as a whole; nothing of it was applied
            }
          }
          out.wrote = false;
          for (auto& [key, st] : clients) {
            if (!st.dirty) continue;
            writeClient(s.txn, db.impl().clients, st.key, st.record);
            out.wrote = true;
          }
          const std::uint64_t head = db.impl().head(s);
          for (auto& r : responses) {
            if (r) r->version = head;
          }
          tx.enforceWriteAuth(nullptr);
          tx.setContext({});
        });
        break;
      } catch (const RetryWithSavepoints&) {
        ++careful_batches;
        continue;
      } catch (...) {
        // The commit (or a storage failure inside it) lost every push of the
        // batch: nothing was acknowledged, clients retry.
        std::string what = "push could not be committed";
        try {
          throw;
        } catch (const std::exception& e) {
          what += std::string(": ") + e.what();
        } catch (...) {
        }
        const auto failure = std::make_exception_ptr(SyncError(SyncErrorKind::Internal, what));
        for (std::size_t i = 0; i < batch.size(); ++i) {
          if (!errors[i]) errors[i] = failure;
          responses[i].reset();
        }
        out.wrote = false;
        break;
      }
    }
    {
      std::lock_guard lock(mu);
      stats.commits += 1;
      stats.pushes += batch.size();
      stats.mutations_applied += delta.mutations_applied;
      stats.mutations_failed += delta.mutations_failed;
      stats.mutations_skipped += delta.mutations_skipped;
      stats.careful_batches += careful_batches;
      stats.largest_group = std::max<std::uint64_t>(stats.largest_group, batch.size());
    }
    return out;
  }

  PushResponse applyPush(Tx& tx, TxnState& s, std::unordered_map<std::string, ClientState>& clients,
                         Pending& p, SyncStats& delta, bool careful) {
    const PushRequest& req = p.request;
    // Another user's group is refused before anything of it is looked at;
    // an unowned one becomes this owner's (committed with the batch).
    if (checkOwner(s.txn, db.impl().clients, req.client_group_id, p.owner)) {
      s.txn.put(db.impl().clients, clientKey(req.client_group_id, {}), p.owner);
    }
    // A client the server does not know, whose first mutation is not 1:
    // the client holds state this server never had (or lost). Refuse the
    // whole push before applying anything of it.
    std::unordered_map<std::string_view, bool> seen;
    for (const Mutation& m : req.mutations) {
      if (!seen.emplace(m.client_id, true).second) continue;  // only a client's first mutation tells
      ClientState& st = clientState(s, clients, req.client_group_id, m.client_id);
      if (!st.known && !st.dirty && m.id > 1) {
        throw SyncError(SyncErrorKind::ClientStateNotFound,
                        "client '" + m.client_id + "' of group '" + req.client_group_id +
                            "' is unknown to this server, but its mutations start at id " + std::to_string(m.id));
      }
    }
    PushResponse out;
    out.results.reserve(req.mutations.size());
    tx.enforceWriteAuth(p.ctx.has_value() ? std::make_shared<const std::any>(p.ctx) : nullptr);
    std::unordered_map<std::string_view, std::string> stopped;  // client -> why
    std::vector<ClientState*> confirmed;  // clients whose lastMutationID this push moved, in order
    std::size_t applied_new = 0;
    for (const Mutation& m : req.mutations) {
      MutationResult r{m.client_id, m.id, MutationOutcome::Applied, {}, {}};
      ClientState& st = clientState(s, clients, req.client_group_id, m.client_id);
      const std::int64_t last = st.record.last_mutation_id;
      if (auto it = stopped.find(m.client_id); it != stopped.end()) {
        r.outcome = MutationOutcome::Rejected;
        r.error = "MutationIDGap";
        r.message = it->second;
      } else if (m.id <= last) {
        r.outcome = MutationOutcome::Skipped;
        ++delta.mutations_skipped;
      } else if (applied_new >= options.max_mutations_per_push) {
        r.outcome = MutationOutcome::Deferred;
      } else if (m.id > last + 1) {
        r.outcome = MutationOutcome::Rejected;
        r.error = "MutationIDGap";
        r.message = "client '" + m.client_id + "': expected mutation id " + std::to_string(last + 1) + ", got " +
                    std::to_string(m.id) + "; its later mutations in this push were not processed";
        stopped.emplace(m.client_id, r.message);
      } else {
        ++applied_new;
        tx.setContext(WriteContext{req.client_group_id, m.client_id, m.id});
        const MutatorCallInfo call{m.name, m.args, p.ctx, req.client_group_id, m.client_id, m.id};
        try {
          if (careful) {
            tx.savepoint([&](Tx& inner) { runner(inner, call); });
          } else {
            runner(tx, call);
          }
          ++delta.mutations_applied;
        } catch (const std::exception& e) {
          if (isFatal(e)) throw;
          if (!careful) throw RetryWithSavepoints{};
          r.outcome = MutationOutcome::Failed;
          r.error = errorKindOf(e);
          r.message = e.what();
          ++delta.mutations_failed;
        } catch (...) {
          if (!careful) throw RetryWithSavepoints{};
          r.outcome = MutationOutcome::Failed;
          r.error = "MutatorError";
          r.message = "the mutator threw something that is not a std::exception";
          ++delta.mutations_failed;
        }
        // Applied or failed, the id is used up: the client must not resend it.
        st.record.last_mutation_id = m.id;
        st.dirty = true;
        if (std::find(confirmed.begin(), confirmed.end(), &st) == confirmed.end()) confirmed.push_back(&st);
      }
      out.results.push_back(std::move(r));
    }
    // One Confirm entry per client whose lastMutationID moved, all together
    // after the push's rows: pulls cut pages only after such a run, so a
    // page never shows a mutation's rows without its confirmation.
    for (ClientState* st : confirmed) {
      st->record.version =
          db.impl().appendConfirm(s, req.client_group_id, st->client_id, st->record.last_mutation_id);
    }
    for (const Mutation& m : req.mutations) {
      out.last_mutation_ids[m.client_id] =
          clientState(s, clients, req.client_group_id, m.client_id).record.last_mutation_id;
    }
    return out;
  }
};

bool groupOwnedByAnother(const Database& db, std::string_view client_group_id, std::string_view owner) {
  if (owner.empty()) return false;
  return db.read([&](ReadTx& r) {
    try {
      (void)checkOwner(r.state().txn, db.impl().clients, client_group_id, owner);
      return false;
    } catch (const SyncError&) {
      return true;
    }
  });
}

SyncServer::SyncServer(Database& db, MutatorRunner runner, SyncOptions options)
    : impl_(std::make_unique<Impl>(db, std::move(runner), std::move(options))) {}

SyncServer::~SyncServer() { stop(); }

void SyncServer::stop() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->writer.joinable()) impl_->writer.join();
}

void SyncServer::pushAsync(PushRequest request, std::any ctx, PushCallback done, std::string owner) {
  try {
    checkSchemaVersion(impl_->options, request.schema_version);
    if (request.client_group_id.empty()) throw SyncError(SyncErrorKind::BadRequest, "push: clientGroupID is empty");
  } catch (...) {
    done(nullptr, std::current_exception());
    return;
  }
  {
    std::unique_lock lock(impl_->mu);
    if (impl_->stopping) {
      lock.unlock();
      done(nullptr, std::make_exception_ptr(SyncError(SyncErrorKind::Unavailable, "the server is shutting down")));
      return;
    }
    impl_->queue.push_back(Impl::Pending{std::move(request), std::move(ctx), std::move(done), std::move(owner)});
  }
  impl_->cv.notify_one();
}

PushResponse SyncServer::push(PushRequest request, std::any ctx, std::string owner) {
  // The answer crosses from the writer thread as plain values, and the
  // caller throws its own SyncError. Handing over the exception object (or
  // a copy: std::runtime_error shares its message buffer between copies)
  // would leave the writer thread holding references that it drops after
  // the caller has woken, which ThreadSanitizer cannot tell from a race.
  struct Failure {
    SyncErrorKind kind;
    std::string message;
    std::string version_type;
  };
  using Outcome = std::variant<PushResponse, Failure, std::exception_ptr>;
  std::promise<Outcome> promise;
  auto future = promise.get_future();
  pushAsync(std::move(request), std::move(ctx), [&promise](PushResponse* r, std::exception_ptr e) {
    if (!e) {
      promise.set_value(Outcome(std::in_place_index<0>, std::move(*r)));
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const SyncError& se) {
      promise.set_value(Outcome(std::in_place_index<1>, Failure{se.kind(), std::string(se.what()),
                                                                std::string(se.versionType())}));
    } catch (...) {
      promise.set_value(Outcome(std::in_place_index<2>, e));  // not one the server raises
    }
  }, std::move(owner));
  Outcome outcome = future.get();
  if (auto* f = std::get_if<Failure>(&outcome)) throw SyncError(f->kind, std::move(f->message), std::move(f->version_type));
  if (auto* other = std::get_if<std::exception_ptr>(&outcome)) std::rethrow_exception(*other);
  return std::move(std::get<PushResponse>(outcome));
}

std::int64_t SyncServer::lastMutationID(std::string_view group, std::string_view client) const {
  return impl_->db.read([&](ReadTx& r) {
    auto rec = readClient(r.state().txn, impl_->db.impl().clients, clientKey(group, client));
    return rec ? rec->last_mutation_id : std::int64_t{0};
  });
}

SyncStats SyncServer::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

Database& SyncServer::database() const noexcept { return impl_->db; }
const SyncOptions& SyncServer::options() const noexcept { return impl_->options; }

// ---- pull ----------------------------------------------------------------------

namespace {

// One row of a pull page: the newest change-log entry of that row within the
// page, viewed in place (valid while the read transaction is open).
struct PageRow {
  plasma::detail::BoundTable* table;
  std::string_view id;
  std::string_view row;  // the row image of a put
  bool put;              // readable row image; else a del
};

struct Page {
  std::vector<PageRow> rows;  // in version order of each row's newest entry
  std::vector<std::pair<std::string_view, std::int64_t>> last_mutation_ids;  // this group's clients
  std::uint64_t cookie = 0;
  bool more = false;
  bool full = false;  // null cookie: the page starts with `clear`
};

// One row entry of a page, in version order.
struct PageEntry {
  const fbs::ChangeEntry* entry;
  std::uint32_t first;  // position of this row's first entry in the page: its `before` is the state at the cookie
  bool superseded;      // a later entry of the page is for the same row
};

// Open-addressing index from (table, id) to a position in the page's
// entries, so that each row keeps only its newest entry. Slots are 8 bytes
// (the hash's upper half and the position), so a page of a few thousand
// rows stays in L1/L2. No allocation per entry.
class RowIndex {
 public:
  explicit RowIndex(std::size_t expected) { rehash(std::bit_ceil(std::max<std::size_t>(64, expected * 2))); }

  // Returns the slot's current value (or npos) and stores `value` there.
  std::uint32_t exchange(std::string_view table, std::string_view id, std::uint32_t value,
                         const std::vector<PageEntry>& entries) {
    if ((used_ + 1) * 2 > slots_.size()) grow(entries);
    const std::uint64_t h = hash(table, id);
    const auto tag = static_cast<std::uint32_t>(h >> 32);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.value == kNpos) {
        slot = Slot{tag, value};
        ++used_;
        return kNpos;
      }
      if (slot.tag == tag) {
        const auto* e = entries[slot.value].entry;
        if (e->id()->string_view() == id && e->table()->string_view() == table) {
          return std::exchange(slot.value, value);
        }
      }
    }
  }
  static constexpr std::uint32_t kNpos = ~std::uint32_t{0};

 private:
  struct Slot {
    std::uint32_t tag = 0;
    std::uint32_t value = kNpos;
  };
  // Tables are few: the id's hash, seeded by the table name's length and
  // first byte, spreads well; equal tags are told apart by comparing.
  static std::uint64_t hash(std::string_view table, std::string_view id) noexcept {
    const std::uint64_t seed = (table.size() << 8) | (table.empty() ? 0u : static_cast<unsigned char>(table[0]));
    return XXH3_64bits_withSeed(id.data(), id.size(), seed);
  }
  void rehash(std::size_t n) {
    slots_.assign(n, Slot{});
    mask_ = n - 1;
    used_ = 0;
  }
  // Doubles the table, re-placing each slot by hashing its entry again
  // (a slot keeps only the upper half of the hash).
  void grow(const std::vector<PageEntry>& entries) {
    std::vector<Slot> old = std::move(slots_);
    rehash(old.size() * 2);
    for (const Slot& s : old) {
      if (s.value == kNpos) continue;
      const auto* e = entries[s.value].entry;
      for (std::size_t i = hash(e->table()->string_view(), e->id()->string_view()) & mask_;; i = (i + 1) & mask_) {
        if (slots_[i].value == kNpos) {
          slots_[i] = s;
          ++used_;
          break;
        }
      }
    }
  }
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t used_ = 0;
};

// Reads one page of changes after the request's cookie (see docs/node.md,
// "Pull: pages"), filtered by auth.read for the ctx.
Page scanPage(DatabaseImpl& impl, TxnState& s, const PullRequest& req, const std::any& ctx, const SyncOptions& o) {
  Page page;
  // Never a commit whose log sync is still running (Durability::Wal): a
  // client must not see what a crash could still take back.
  const std::uint64_t head = impl.durableHead(s);
  const std::uint64_t cookie = req.cookie.value_or(0);
  if (cookie > head) {
    throw SyncError(SyncErrorKind::ClientStateNotFound,
                    "cookie " + std::to_string(cookie) + " is ahead of this server's change log (head " +
                        std::to_string(head) + "): the server does not have the client's state");
  }
  page.full = !req.cookie.has_value();
  const std::size_t expected = static_cast<std::size_t>(std::min<std::uint64_t>(head - cookie, 1u << 16));
  std::vector<PageEntry> entries;  // every row entry of the page, in version order
  entries.reserve(expected);
  RowIndex index(expected);
  std::size_t bytes = 0;
  std::uint64_t end = cookie;
  bool over_budget = false;
  const bool verify = impl.options.verify_rows_on_read;
  OrderedScan cur(s, impl.changes, DatabaseImpl::kChangesName, keys::encodeU64(cookie + 1));
  while (cur.next()) {
    const std::uint64_t version = keys::decodeU64(cur.key());
    if (version > head) break;
    // Pages end at a push boundary (after its Confirm entries) or, for writes
    // made outside a mutation, between any two rows; a push bigger than twice
    // the page budget is split too rather than growing without bound.
    const std::string_view value = cur.value();
    // Entries are verified when the database verifies what it reads
    // (OpenOptions::verify_rows_on_read), like table rows; the engine wrote
    // them and verified every row image before it did. Unverified, a
    // damaged entry is read as unchecked as a damaged row would be.
    if (verify) {
      flatbuffers::Verifier v(reinterpret_cast<const std::uint8_t*>(value.data()), value.size());
      if (!fbs::VerifyChangeEntryBuffer(v)) {
        throw SyncError(SyncErrorKind::Internal, "change log: entry " + std::to_string(version) + " is malformed");
      }
    }
    const auto* e = fbs::GetChangeEntry(value.data());
    // Over budget: stop before the next row, but finish a run of Confirm
    // entries (a push's confirmations sit together after its rows).
    if (over_budget && e->op() != fbs::ChangeOp::Confirm) break;
    end = version;
    if (e->op() == fbs::ChangeOp::Confirm) {
      if (e->client_group_id() != nullptr && e->client_group_id()->string_view() == req.client_group_id &&
          e->client_id() != nullptr) {
        const std::string_view client = e->client_id()->string_view();
        auto it = std::find_if(page.last_mutation_ids.begin(), page.last_mutation_ids.end(),
                               [&](const auto& p) { return p.first == client; });
        if (it == page.last_mutation_ids.end()) {
          page.last_mutation_ids.emplace_back(client, e->mutation_id());
        } else {
          it->second = std::max<std::int64_t>(it->second, e->mutation_id());
        }
      }
      if (bytes >= o.max_pull_bytes) over_budget = true;
      continue;
    }
    if (e->table() == nullptr || e->id() == nullptr) {
      throw SyncError(SyncErrorKind::Internal, "change log: entry " + std::to_string(version) + " has no table or id");
    }
    if (entries.size() >= RowIndex::kNpos) {
      throw SyncError(SyncErrorKind::Internal, "pull: a page of more than 2^32 rows");
    }
    const auto position = static_cast<std::uint32_t>(entries.size());
    const std::uint32_t previous = index.exchange(e->table()->string_view(), e->id()->string_view(), position, entries);
    std::uint32_t first = position;
    if (previous != RowIndex::kNpos) {
      PageEntry& old = entries[previous];
      old.superseded = true;
      first = old.first;
      bytes -= (old.entry->row() ? old.entry->row()->size() : 0) + old.entry->table()->size() + old.entry->id()->size();
    }
    entries.push_back(PageEntry{e, first, false});
    bytes += (e->row() ? e->row()->size() : 0) + e->table()->size() + e->id()->size();
    const bool admin = e->client_id() == nullptr || e->client_id()->size() == 0;
    if ((admin && bytes >= o.max_pull_bytes) || bytes >= 2 * o.max_pull_bytes) over_budget = true;
  }
  page.more = over_budget && end < head;
  page.cookie = page.more ? end : head;

  // An incremental pull sends a del only for a row the caller could hold at
  // its cookie: the row existed then and, under auth.read, was readable.
  // The row's first entry in the page describes that state (its `before`),
  // unless compaction folded entries after the cookie: then, as for entries
  // written before `before` existed, a del is sent (the client may hold it).
  const bool before_is_cookie_state = !page.full && cookie >= impl.compactionHorizon(s);

  // auth.read for the caller's ctx, built once per table (nullptr: none).
  std::vector<std::pair<const plasma::detail::BoundTable*, Expr>> readable;
  auto readPredicate = [&](const plasma::detail::BoundTable* t) -> const Expr* {
    if (!t->spec->options.auth.read) return nullptr;
    auto it = std::find_if(readable.begin(), readable.end(), [&](const auto& p) { return p.first == t; });
    if (it == readable.end()) {
      readable.emplace_back(t, t->spec->options.auth.read(ctx));
      it = std::prev(readable.end());
    }
    return it->second ? &it->second : nullptr;  // an empty predicate hides nothing
  };
  auto readableImage = [&](plasma::detail::BoundTable* t, const Expr& pred, std::string_view id,
                           const flatbuffers::Vector<std::uint8_t>* row) {
    const RowView view = impl.view(*t, id, std::string_view(reinterpret_cast<const char*>(row->data()), row->size()));
    return query::matches(pred, query::RowSource(view));
  };
  // Could the caller hold the row at the cookie? `first` is the row's first
  // entry after it. When in doubt: yes.
  auto heldAtCookie = [&](plasma::detail::BoundTable* t, const fbs::ChangeEntry* first) {
    if (!before_is_cookie_state) return true;
    switch (first->before()) {
      case fbs::Before::Absent:
        return false;
      case fbs::Before::Present: {
        const Expr* pred = readPredicate(t);
        if (pred == nullptr) return true;
        if (first->before_row() == nullptr) return true;  // logged before the table had auth.read
        return readableImage(t, *pred, first->id()->string_view(), first->before_row());
      }
      default:
        return true;  // written before `before` existed
    }
  };

  plasma::detail::BoundTable* last_table = nullptr;
  std::string_view last_name;
  page.rows.reserve(entries.size());
  for (const PageEntry& pe : entries) {
    if (pe.superseded) continue;
    const auto* e = pe.entry;
    const std::string_view name = e->table()->string_view();
    plasma::detail::BoundTable* t = (last_table != nullptr && name == last_name) ? last_table : impl.tableByName(name);
    if (t == nullptr) throw SyncError(SyncErrorKind::Internal, "change log names unknown table '" + std::string(name) + "'");
    last_table = t;
    last_name = name;
    bool put = e->op() == fbs::ChangeOp::Put && e->row() != nullptr;
    if (put) {
      if (const Expr* pred = readPredicate(t)) put = readableImage(t, *pred, e->id()->string_view(), e->row());
    }
    if (!put) {
      if (page.full) continue;  // after `clear`, a delete says nothing
      if (!heldAtCookie(t, entries[pe.first].entry)) continue;  // the caller never had it: nothing to delete
    }
    const std::string_view row =
        put ? std::string_view(reinterpret_cast<const char*>(e->row()->data()), e->row()->size()) : std::string_view();
    page.rows.push_back(PageRow{t, e->id()->string_view(), row, put});
  }
  return page;
}

}  // namespace

// The part every pull shares: validate, read one page in a read
// transaction, count it. `build` turns the page into the answer while the
// transaction (and so every view in the page) is still open.
template <class Build>
auto readPage(SyncServer::Impl& impl, const PullRequest& req, const std::any& ctx, std::string_view owner,
              Build&& build) {
  checkSchemaVersion(impl.options, req.schema_version);
  if (req.client_group_id.empty()) throw SyncError(SyncErrorKind::BadRequest, "pull: clientGroupID is empty");
  DatabaseImpl& db = impl.db.impl();
  auto out = impl.db.read([&](ReadTx& r) {
    db.requireReady();
    (void)checkOwner(r.state().txn, db.clients, req.client_group_id, owner);
    return build(db, scanPage(db, r.state(), req, ctx, impl.options));
  });
  {
    std::lock_guard lock(impl.mu);
    ++impl.stats.pulls;
  }
  return out;
}

std::string SyncServer::pullEncoded(const PullRequest& req, const std::any& ctx, Encoding encoding,
                                    std::string_view owner) const {
  return readPage(*impl_, req, ctx, owner, [&](DatabaseImpl& db, const Page& page) {
    PullResponseView view;
    view.cookie = page.cookie;
    view.more = page.more;
    view.last_mutation_id_changes = page.last_mutation_ids;
    view.patch.reserve(page.rows.size() + 1);
    if (page.full) view.patch.emplace_back(PatchOpKind::Clear, std::string_view(), std::string_view());
    for (const PageRow& row : page.rows) {
      // Built in place: a PatchOpView built aside and copied in, or one
      // value-initialized first, costs more than the rest of this loop.
      PatchOpView& op = view.patch.emplace_back(row.put ? PatchOpKind::Put : PatchOpKind::Del,
                                                std::string_view(row.table->spec->name), row.id);
      if (row.put) op.row.emplace(db.view(*row.table, row.id, row.row));
    }
    return encodePullResponse(encoding, view);
  });
}

PullResponse SyncServer::pull(const PullRequest& req, const std::any& ctx, std::string_view owner) const {
  return readPage(*impl_, req, ctx, owner, [](DatabaseImpl&, const Page& page) {
    PullResponse resp;
    resp.cookie = page.cookie;
    resp.more = page.more;
    for (const auto& [client, id] : page.last_mutation_ids) resp.last_mutation_id_changes.emplace(client, id);
    resp.patch.reserve(page.rows.size() + 1);
    if (page.full) resp.patch.push_back(PatchOp{PatchOpKind::Clear, {}, {}, std::nullopt});
    for (const PageRow& row : page.rows) {
      PatchOp op;
      op.op = row.put ? PatchOpKind::Put : PatchOpKind::Del;
      op.table = row.table->spec->name;
      op.id = std::string(row.id);
      if (row.put) op.row.emplace(row.table->layout, op.id, std::string(row.row));
      resp.patch.push_back(std::move(op));
    }
    return resp;
  });
}

}  // namespace plasma::sync
