// tests/client/client_test_util.hpp — what the client tests share: options
// for a todo-app Client against a node on loopback, the local titles, and
// mutation arguments.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include <boost/json.hpp>

#include "client/client.hpp"
#include "todo/todo_app.hpp"

namespace plasma_test {

inline plasma::client::ClientOptions clientOptions(const std::filesystem::path& dir, std::uint16_t port,
                                                   const std::string& user,
                                                   plasma::sync::Encoding encoding = plasma::sync::Encoding::FlatBuffers) {
  using namespace std::chrono_literals;
  plasma::client::ClientOptions o;
  o.tables = {todo::todos};
  o.schema_version = todo::kSchemaVersion;
  o.runner = plasma::sync::runnerFor(todo::mutators());
  o.ctx = todo::Ctx{user};
  o.data_dir = dir;
  o.durability = plasma::Durability::NoSync;  // tests: speed
  o.port = port;
  o.auth_headers = {{"X-User", user}};
  o.ws_params = {{"user", user}};
  o.encoding = encoding;
  o.poll_interval_ms = 200;
  o.request_timeout = 2s;
  o.retry = {.max_attempts = 3, .initial_delay_ms = 5, .max_delay_ms = 50};
  return o;
}

// todo id -> title, as a local database holds them.
inline std::map<std::string, std::string> titlesOf(plasma::Database& db) {
  std::map<std::string, std::string> out;
  db.read([&](const plasma::ReadTx& tx) {
    tx.scan(todo::todos, [&](const plasma::RowView& r) {
      out[std::string(r.id())] = std::string(r.get(todo::todos.title).value_or(""));
    });
  });
  return out;
}

inline boost::json::value createArgs(const std::string& id, const std::string& title, std::int64_t at = 1) {
  return boost::json::object{{"id", id}, {"title", title}, {"updatedAt", at}};
}

}  // namespace plasma_test
