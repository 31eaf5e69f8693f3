// Client groups (several Clients on one data directory: threads and
// processes), presence, getContext and many-client convergence — against the
// real plasma-node on loopback.
#ifdef PLASMA_NODE_BINARY
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <boost/json.hpp>

#include "client/client.hpp"
#include "client/client_test_util.hpp"
#include "node/node_process.hpp"
#include "sync/codec.hpp"
#include "test_util.hpp"
#include "todo/todo_app.hpp"

using namespace plasma;
using plasma_test::NodeProcess;
using plasma_test::TempDir;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

client::ClientOptions groupOptions(const std::filesystem::path& dir, std::uint16_t port, const std::string& user) {
  return plasma_test::clientOptions(dir, port, user);
}
using plasma_test::titlesOf;

json::value create(const std::string& id, const std::string& title, std::int64_t at = 1) {
  return plasma_test::createArgs(id, title, at);
}

bool hasTitle(const std::vector<ResultRow>& rows, const std::string& title) {
  return std::any_of(rows.begin(), rows.end(),
                     [&](const ResultRow& r) { return r.get(todo::todos.title).value_or("") == title; });
}

template <class F>
bool eventually(F&& f, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

// What the node holds for `user`: a fresh client's full pull.
std::map<std::string, std::string> serverState(std::uint16_t port, const std::string& user) {
  TempDir d;
  client::Client fresh(groupOptions(d.path(), port, user));
  REQUIRE(fresh.pullOnce());
  return titlesOf(fresh.db());
}

}  // namespace

TEST_CASE("client group: two Clients in one process share the store - each has its own clientID", "[client][group]") {
  TempDir dir, node_dir;
  NodeProcess node(node_dir.path());
  // Durability::Full (the default): a mutation is pushable by any member at
  // once (relaxed modes hold it until its own Client has pulled: the id floor).
  auto durable = [&] {
    auto o = groupOptions(dir.path(), node.port(), "alice");
    o.durability = Durability::Full;
    return o;
  };
  client::Client a(durable());
  client::Client b(durable());
  CHECK(a.clientID() != b.clientID());
  CHECK(a.clientGroupID() == b.clientGroupID());
  CHECK(&a.db() == &b.db());  // one Database per directory per process

  // A mutation made by one shows in the other's live query.
  auto live = b.db().select().from(todo::todos).live();
  live.whenReady();
  auto ha = a.mutate("createTodo", create("ta", "from-a"));
  live.sync();
  CHECK(hasTitle(live.rows(), "from-a"));
  auto hb = b.mutate("createTodo", create("tb", "from-b"));
  CHECK(ha.id == 1);
  CHECK(hb.id == 1);  // ids are per client
  CHECK(a.pendingCount() == 2);  // one outbox for the group

  // a pushes the whole group's outbox; b's handle learns its outcome.
  REQUIRE(a.flush(5s));
  CHECK(ha.outcome.wait_for(2s) == std::future_status::ready);
  CHECK(ha.outcome.get().kind == client::OutcomeKind::Applied);
  REQUIRE(b.pullOnce());
  REQUIRE(hb.outcome.wait_for(2s) == std::future_status::ready);
  CHECK(hb.outcome.get().kind == client::OutcomeKind::Applied);
  CHECK(hb.outcome.get().client_id == b.clientID());

  const auto server = serverState(node.port(), "alice");
  CHECK(server == std::map<std::string, std::string>{{"ta", "from-a"}, {"tb", "from-b"}});
  CHECK(titlesOf(a.db()) == server);
}

TEST_CASE("client group: a Client that restarts takes back its slot's clientID", "[client][group]") {
  TempDir dir;
  std::string first, second;
  {
    client::Client a(groupOptions(dir.path(), 1, "alice"));
    client::Client b(groupOptions(dir.path(), 1, "alice"));
    first = a.clientID();
    second = b.clientID();
    a.mutate("createTodo", create("t1", "one"));
  }
  client::Client again(groupOptions(dir.path(), 1, "alice"));
  CHECK(again.clientID() == first);
  CHECK(again.pendingCount() == 1);
  // The next id continues this client's sequence.
  CHECK(again.mutate("createTodo", create("t2", "two")).id == 2);
  client::Client other(groupOptions(dir.path(), 1, "alice"));
  CHECK(other.clientID() == second);
  CHECK(other.mutate("createTodo", create("t3", "three")).id == 1);

  // Another schema on an open directory is refused by name.
  auto bad = groupOptions(dir.path(), 1, "alice");
  bad.schema_version = "other-v1";
  CHECK_THROWS_WITH(client::Client(std::move(bad)), Catch::Contains("another schema"));
}

#ifdef PLASMA_TODO_CLIENT_BINARY
namespace {

// plasma-todo-client running a script from a file; stdout to a file.
class TodoClientProcess {
 public:
  TodoClientProcess(const std::filesystem::path& dir, std::uint16_t port, const std::string& script,
                    const std::filesystem::path& scratch)
      : out_(scratch / "child.out") {
    const auto in = scratch / "child.script";
    std::ofstream(in) << script;
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const int fin = ::open(in.c_str(), O_RDONLY);
      const int fout = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fin < 0 || fout < 0) _exit(126);
      dup2(fin, STDIN_FILENO);
      dup2(fout, STDOUT_FILENO);
      dup2(fout, STDERR_FILENO);
      const std::string p = std::to_string(port);
      execl(PLASMA_TODO_CLIENT_BINARY, PLASMA_TODO_CLIENT_BINARY, "--dir", dir.c_str(), "--port", p.c_str(), "--user",
            "alice", "--durability", "nosync", static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~TodoClientProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // The exit status (-1: still running at the deadline).
  int wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }
  std::string output() const {
    std::ifstream f(out_);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

 private:
  pid_t pid_ = -1;
  std::filesystem::path out_;
};

}  // namespace

TEST_CASE("client group: two processes on one directory share the store and each other's live changes",
          "[client][group]") {
  TempDir dir, node_dir, scratch;
  NodeProcess node(node_dir.path());
  client::Client a(groupOptions(dir.path(), node.port(), "alice"));
  a.start();
  auto live = a.db().select().from(todo::todos).live();
  live.whenReady();

  // The child adds a todo, then waits (its own live query) for ours, then
  // pushes what is pending and exits.
  TodoClientProcess child(dir.path(), node.port(), "add from-child\nwait from-parent 15000\nflush 15000\nquit\n",
                          scratch.path());
  // The child's commit reaches this process's live query (no network involved).
  CHECK(eventually([&] { return hasTitle(live.rows(), "from-child"); }, 15s));
  a.mutate("createTodo", create("p1", "from-parent"));
  const int status = child.wait(30s);
  INFO(child.output());
  REQUIRE(status == 0);
  CHECK(child.output().find("wait from-parent: ok") != std::string::npos);

  REQUIRE(a.flush(10s));
  // Both mutations reached the node exactly once, from two clientIDs.
  const auto server = serverState(node.port(), "alice");
  CHECK(server.size() == 2);
  CHECK(server.at("p1") == "from-parent");
  CHECK(std::count_if(server.begin(), server.end(), [](const auto& kv) { return kv.second == "from-child"; }) == 1);
  CHECK(eventually([&] { return titlesOf(a.db()) == server; }, 5s));
}
#endif  // PLASMA_TODO_CLIENT_BINARY

TEST_CASE("client: ten clients converge after concurrent conflicting edits", "[client][group]") {
  TempDir node_dir;
  NodeProcess node(node_dir.path());
  constexpr int kClients = 10;
  std::vector<std::unique_ptr<TempDir>> dirs;
  std::vector<std::unique_ptr<client::Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    dirs.push_back(std::make_unique<TempDir>());
    clients.push_back(std::make_unique<client::Client>(groupOptions(dirs.back()->path(), node.port(), "alice")));
  }
  clients[0]->mutate("createTodo", create("shared", "orig"));
  clients[0]->mutate("createTodo", create("victim", "doomed"));
  REQUIRE(clients[0]->flush(5s));
  for (auto& c : clients) c->start();
  REQUIRE(eventually([&] {
    return std::all_of(clients.begin(), clients.end(), [](auto& c) { return titlesOf(c->db()).contains("victim"); });
  }));

  // Every client, at once: rename the shared todo (a conflict every round),
  // add its own, rename the victim — which client 0 deletes meanwhile.
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto& c = *clients[i];
      for (int round = 0; round < 5; ++round) {
        c.mutate("renameTodo", json::object{{"id", "shared"}, {"title", "by-" + std::to_string(i) + "-" + std::to_string(round)},
                                           {"updatedAt", round}});
        c.mutate("createTodo", create("c" + std::to_string(i) + "-" + std::to_string(round), "mine"));
        if (round == 2) c.mutate("renameTodo", json::object{{"id", "victim"}, {"title", "saved?"}, {"updatedAt", 9}});
        if (round == 3 && i == 0) c.mutate("deleteTodo", json::object{{"id", "victim"}});
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& c : clients) CHECK(c->flush(15s));

  const auto server = serverState(node.port(), "alice");
  CHECK(server.size() == 1 + kClients * 5);  // shared + 5 own each; the victim is gone whatever the order
  CHECK_FALSE(server.contains("victim"));
  CHECK(server.at("shared").rfind("by-", 0) == 0);
  for (int i = 0; i < kClients; ++i) {
    INFO("client " << i);
    CHECK(eventually([&] { return titlesOf(clients[i]->db()) == server; }, 15s));
    CHECK(clients[i]->pendingCount() == 0);
  }
}

TEST_CASE("client: presence lists every client of the room - getContext is called per mutator run", "[client]") {
  TempDir node_dir, ad, bd;
  NodeProcess node(node_dir.path());
  auto ao = groupOptions(ad.path(), node.port(), "alice");
  ao.presence = true;
  ao.room = "doc-1";
  std::atomic<int> lists{0};
  ao.on_presence = [&](const std::vector<client::PresenceEntry>&) { ++lists; };
  std::atomic<int> contexts{0};
  ao.get_context = [&]() -> std::any {
    ++contexts;
    return todo::Ctx{"alice"};
  };
  auto bo = groupOptions(bd.path(), node.port(), "alice");
  bo.presence = true;
  bo.room = "doc-1";
  client::Client a(std::move(ao));
  client::Client b(std::move(bo));
  a.start();
  b.start();
  a.setPresence(json::object{{"name", "Ann"}});
  b.setPresence(json::object{{"name", "Bob"}});
  auto names = [](const std::vector<client::PresenceEntry>& list) {
    std::map<std::string, std::string> out;
    for (const auto& e : list) {
      const auto* o = e.user_info.if_object();
      out[e.client_id] = o != nullptr && o->contains("name") ? std::string(o->at("name").as_string()) : "";
    }
    return out;
  };
  const std::map<std::string, std::string> both{{a.clientID(), "Ann"}, {b.clientID(), "Bob"}};
  CHECK(eventually([&] { return names(a.presence()) == both && names(b.presence()) == both; }));
  CHECK(lists.load() > 0);

  // A presence-off client cannot set one, and bad userInfo is refused by name.
  TempDir cd;
  client::Client c(groupOptions(cd.path(), node.port(), "alice"));
  CHECK_THROWS_WITH(c.setPresence(json::object{}), Catch::Contains("presence off"));
  CHECK_THROWS_WITH(a.setPresence(json::value(3)), Catch::Contains("must be a JSON object"));

  // userInfo as deep as a presence list can carry reaches the peers (the list holds it three
  // levels down); one level more is refused before it is sent.
  auto deep = [](std::size_t depth) {  // an object holding depth - 1 nested arrays
    json::value inner = json::array{};
    for (std::size_t i = 2; i < depth; ++i) inner = json::array{inner};
    return json::value(json::object{{"name", "Ann"}, {"deep", inner}});
  };
  REQUIRE(sync::jsonDepth(deep(sync::kMaxValueDepth)) == sync::kMaxValueDepth);
  CHECK_THROWS_WITH(a.setPresence(deep(sync::kMaxValueDepth + 1)), Catch::Contains("at most"));
  CHECK_THROWS_WITH(a.setPresence(json::object{{"n", std::numeric_limits<double>::infinity()}}),
                    Catch::Contains("not finite"));
  a.setPresence(deep(sync::kMaxValueDepth));
  CHECK(eventually([&] {
    for (const auto& e : b.presence()) {
      if (e.client_id == a.clientID() && e.user_info.is_object() && e.user_info.as_object().contains("deep")) return true;
    }
    return false;
  }));
  a.setPresence(json::object{{"name", "Ann"}});
  CHECK(eventually([&] { return names(a.presence()) == both && names(b.presence()) == both; }));

  // b leaves: a's list shrinks to itself.
  b.stop();
  CHECK(eventually([&] { return names(a.presence()) == std::map<std::string, std::string>{{a.clientID(), "Ann"}}; }));

  // getContext: called for the local run of each mutate.
  const int before = contexts.load();
  a.mutate("createTodo", create("g1", "ctx"));
  CHECK(contexts.load() == before + 1);
  CHECK(titlesOf(a.db()).at("g1") == "ctx");
}

#endif  // PLASMA_NODE_BINARY
