// plasma-node: the server node serving the todo example app.
//
//   plasma-node --listen 127.0.0.1:8787 --data ./data/node [--auth-token T] [--poke-token P]
//
// Auth (demo): with --auth-token, every sync request must carry
// `Authorization: <token>` (compared in constant time); the user a request
// acts for comes from the `X-User` header (default "demo-user"), as in the
// original's Quick Start. Browsers cannot set headers on a WebSocket, so the
// upgrade to {base}/ws may carry them as query parameters instead:
// `&token=<token>&user=<user>`. A real app checks a session or a signed
// token here.
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
      // A header, or on the WebSocket upgrade a query parameter.
      auto credential = [&r](std::string_view header, std::string_view param) -> std::string_view {
        const std::string_view h = r.http.header(header);
        if (!h.empty() || r.route != "ws") return h;
        return r.http.queryParam(param).value_or(std::string_view());
      };
      if (token) {
        const std::string_view given = credential("Authorization", "token");
        if (given.empty()) return AuthResult::deny("missing Authorization header");
        if (!plasma::node::secretEquals(given, *token)) return AuthResult::deny("invalid Authorization token");
      }
      const std::string_view given_user = credential("X-User", "user");
      std::string user = given_user.empty() ? std::string("demo-user") : std::string(given_user);
      // The user also owns the client groups it creates: another user naming
      // one of them in a push or pull is refused (AuthResult::user).
      return AuthResult::allow(todo::Ctx{user}, user);
    };
  };
  return plasma::node::runMain(argc, argv, app);
}
