// tests/sync/sync_test_util.hpp — the todo app's SyncServer in process, for the sync tests:
// request builders (push/pull bodies as the todo client would send them) and a fixture
// (a fresh LMDB directory, the todo schema, its mutators).
#pragma once

#include <any>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "sync/codec.hpp"
#include "sync/server.hpp"
#include "test_util.hpp"
#include "todo/todo_app.hpp"

namespace plasma_sync_test {

inline plasma::sync::Mutation create(std::string client, std::int64_t id, std::string todo_id, std::string title = "t") {
  boost::json::object args{{"id", todo_id}, {"title", title}, {"updatedAt", id}};
  return plasma::sync::Mutation{std::move(client), id, "createTodo", std::move(args), 0};
}

inline plasma::sync::PushRequest pushOf(std::string group, std::vector<plasma::sync::Mutation> ms) {
  plasma::sync::PushRequest r;
  r.client_group_id = std::move(group);
  r.mutations = std::move(ms);
  r.schema_version = todo::kSchemaVersion;
  return r;
}

inline plasma::sync::PullRequest pullOf(std::string group, std::optional<std::uint64_t> cookie) {
  plasma::sync::PullRequest r;
  r.client_group_id = std::move(group);
  r.cookie = cookie;
  r.schema_version = todo::kSchemaVersion;
  return r;
}

// The ctx the todo app's auth predicates read: the user.
inline std::any as(std::string user) { return todo::Ctx{std::move(user)}; }

// A todo database in a fresh directory and a SyncServer on it (schema version filled in).
struct TodoServer {
  plasma_test::TempDir dir;
  plasma::Database db;
  plasma::sync::SyncServer server;
  explicit TodoServer(plasma::sync::SyncOptions o = {}, plasma::OpenOptions open = plasma_test::fastOptions())
      : db(plasma::Database::open(dir.path(), todo::schema, open)),
        server((db.ensureSchema(), db), plasma::sync::runnerFor(todo::mutators()), withVersion(std::move(o))) {}
  static plasma::sync::SyncOptions withVersion(plasma::sync::SyncOptions o) {
    if (o.schema_version.empty()) o.schema_version = todo::kSchemaVersion;
    return o;
  }
};

}  // namespace plasma_sync_test
