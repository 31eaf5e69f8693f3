// plasma-node: the server node serving the todo example app.
//
//   plasma-node --listen 127.0.0.1:8787 --data ./data/node [--auth-token T]
//
// Auth (demo): with --auth-token, every sync request must carry
// `Authorization: <token>` (compared in constant time); the user a request
// acts for comes from the `X-User` header (default "demo-user"), as in the
// original's Quick Start. A real app checks a session or a signed token here.
#include "node/node.hpp"
#include "todo_app.hpp"

int main(int argc, char** argv) {
  plasma::node::AppSpec app;
  app.program = "plasma-node";
  app.schema = &todo::schema;
  app.runner = plasma::sync::runnerFor(todo::mutators());
  app.make_auth = [](const plasma::node::NodeOptions& options) -> plasma::node::AuthHook {
    return [token = options.auth_token](const plasma::node::AuthRequest& r) {
      using plasma::node::AuthResult;
      if (token) {
        const std::string_view given = r.http.header("Authorization");
        if (given.empty()) return AuthResult::deny("missing Authorization header");
        if (!plasma::node::secretEquals(given, *token)) return AuthResult::deny("invalid Authorization token");
      }
      const std::string_view user = r.http.header("X-User");
      return AuthResult::allow(todo::Ctx{user.empty() ? std::string("demo-user") : std::string(user)});
    };
  };
  return plasma::node::runMain(argc, argv, app);
}
