// bench/bench_todo_node.hpp — the todo app as an in-process node serves it in
// the benchmarks (bench_poke.cpp, bench_client.cpp): its schema, mutators and
// an auth hook taking the user from `X-User` or `?user=`.
#pragma once

#include <string>
#include <string_view>

#include "node/node.hpp"
#include "todo_app.hpp"

namespace plasma_bench {

inline plasma::node::AppSpec todoNodeApp(std::string default_user) {
  plasma::node::AppSpec app;
  app.schema = &todo::schema;
  app.runner = plasma::sync::runnerFor(todo::mutators());
  app.make_auth = [default_user = std::move(default_user)](const plasma::node::NodeOptions&) -> plasma::node::AuthHook {
    return [default_user](const plasma::node::AuthRequest& r) {
      std::string_view user = r.http.header("X-User");
      if (user.empty()) user = r.http.queryParam("user").value_or(default_user);
      return plasma::node::AuthResult::allow(todo::Ctx{std::string(user)});
    };
  };
  return app;
}

}  // namespace plasma_bench
