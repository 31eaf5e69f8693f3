// plasma-todo-client — a terminal client for the todo app: a local,
// optimistic store (plasma::client::Client) synced with a plasma-node.
//
//   build/examples/todo/plasma-todo-client --dir ./data/alice --port 8787 --user alice
//
// On a terminal it draws the list and the sync status, and redraws them the
// moment the data changes (a live query: local edits, pulls, another client
// on the same directory). Commands: add, rename, done, delete, share,
// offline, online, sync, quit (`help` lists them). Numbers refer to the list
// as drawn.
//
// Without a terminal on stdin it runs a script, one command per line, and
// prints instead of drawing; `wait`/`flush` make scripts deterministic (the
// tests drive it this way: two processes on one directory). Exit status: 0,
// or 1 when a `wait`/`flush` timed out, 2 for bad arguments.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "client/client.hpp"
#include "todo_app.hpp"

namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

struct Args {
  std::string dir;
  std::string host = "127.0.0.1";
  std::uint16_t port = 8787;
  std::string user = "alice";
  bool json = false;
  bool offline = false;
  bool nosync = false;
};

[[noreturn]] void usage(const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "plasma-todo-client: %s\n\n", error.c_str());
  std::fprintf(stderr,
               "Usage: plasma-todo-client --dir DIR [--host H] [--port P] [--user U] [--json] [--offline]\n"
               "                          [--durability full|nosync]\n"
               "  --dir DIR      the local store (created if missing; several clients may share it)\n"
               "  --host, --port the plasma-node (default 127.0.0.1:8787)\n"
               "  --user U       who you are (the todo node reads the X-User header)\n"
               "  --json         speak the JSON protocol instead of FlatBuffers\n"
               "  --offline      start offline (edits queue in the outbox)\n"
               "Commands (stdin): add TITLE | rename N TITLE | done N | delete N | share N | unshare N |\n"
               "  list | status | offline | online | sync | wait TITLE [MS] | gone TITLE [MS] |\n"
               "  flush [MS] | sleep MS | help | quit\n");
  std::exit(error.empty() ? 0 : 2);
}

Args parseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(k + " needs a value");
      return argv[++i];
    };
    if (k == "--dir") {
      a.dir = value();
    } else if (k == "--host") {
      a.host = value();
    } else if (k == "--port") {
      const std::string v = value();
      char* end = nullptr;
      const long p = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || p <= 0 || p > 65535) usage("--port must be 1..65535, got '" + v + "'");
      a.port = static_cast<std::uint16_t>(p);
    } else if (k == "--user") {
      a.user = value();
      if (a.user.empty()) usage("--user must not be empty");
    } else if (k == "--json") {
      a.json = true;
    } else if (k == "--offline") {
      a.offline = true;
    } else if (k == "--durability") {
      const std::string v = value();
      if (v != "full" && v != "nosync") usage("--durability must be full or nosync, got '" + v + "'");
      a.nosync = v == "nosync";
    } else if (k == "--help" || k == "-h") {
      usage("");
    } else {
      usage("unknown argument '" + k + "'");
    }
  }
  if (a.dir.empty()) usage("--dir is required");
  return a;
}

struct Row {
  std::string id, title, owner;
  bool done = false, shared = false;
};

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class App {
 public:
  explicit App(const Args& a) : args_(a), interactive_(::isatty(STDIN_FILENO) == 1) {
    plasma::client::ClientOptions o;
    o.tables = {todo::todos};
    o.schema_version = todo::kSchemaVersion;
    o.runner = plasma::sync::runnerFor(todo::mutators());
    o.ctx = todo::Ctx{a.user};
    o.data_dir = a.dir;
    o.durability = a.nosync ? plasma::Durability::NoSync : plasma::Durability::Full;
    o.host = a.host;
    o.port = a.port;
    o.auth_headers = {{"X-User", a.user}};
    o.ws_params = {{"user", a.user}};
    o.encoding = a.json ? plasma::sync::Encoding::Json : plasma::sync::Encoding::FlatBuffers;
    o.offline = a.offline;
    o.poll_interval_ms = 2000;
    o.on_error = [this](const plasma::client::ClientError& e) {
      std::lock_guard l(mu_);
      last_error_ = std::string(plasma::client::errorKindName(e.kind)) + ": " + e.message;
      online_ = e.kind != plasma::client::ErrorKind::Network;
    };
    client_ = std::make_unique<plasma::client::Client>(std::move(o));
    offline_ = a.offline;
    live_ = client_->db().select().from(todo::todos).orderBy(plasma::asc(todo::todos.id)).live();
    sub_ = live_->subscribe([this](const std::vector<plasma::ResultRow>& rows) {
      std::vector<Row> list;
      for (const auto& r : rows) {
        list.push_back(Row{std::string(r.get(todo::todos.id).value_or("")),
                           std::string(r.get(todo::todos.title).value_or("")),
                           std::string(r.get(todo::todos.owner).value_or("")), r.get(todo::todos.done).value_or(0) != 0,
                           r.get(todo::todos.shared).value_or(0) != 0});
      }
      {
        std::lock_guard l(mu_);
        rows_ = std::move(list);
        ++version_;
      }
      cv_.notify_all();
      if (interactive_) redraw();
    });
    live_->whenReady();
    client_->start();
  }

  ~App() {
    sub_.reset();
    client_->stop();
  }

  // Runs commands from stdin until quit/EOF; returns the exit status.
  int run() {
    if (interactive_) {
      redraw();
      ticker_ = std::thread([this] {
        // The status line (pending count, online) changes without a data change.
        while (!done_) {
          std::this_thread::sleep_for(1s);
          if (!done_) redraw();
        }
      });
    }
    int status = 0;
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!interactive_ && !line.empty()) std::printf("> %s\n", line.c_str());
      const int r = command(line);
      if (r < 0) break;
      if (r > 0) status = r;
      if (interactive_) redraw();
      std::fflush(stdout);
    }
    done_ = true;
    if (ticker_.joinable()) ticker_.join();
    return status;
  }

 private:
  // 0: ok, 1: a wait timed out, -1: quit.
  int command(const std::string& line) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    std::string rest;
    std::getline(in >> std::ws, rest);
    try {
      if (cmd.empty()) return 0;
      if (cmd == "quit" || cmd == "exit") return -1;
      if (cmd == "help") {
        message("add TITLE | rename N TITLE | done N | delete N | share N | unshare N | offline | online | sync | quit");
      } else if (cmd == "add") {
        if (rest.empty()) return message("add: give a title"), 0;
        client_->mutate("createTodo", json::object{{"id", client_->newId()}, {"title", rest}, {"updatedAt", nowMs()}});
      } else if (cmd == "rename") {
        std::istringstream r(rest);
        std::size_t n = 0;
        std::string title;
        r >> n;
        std::getline(r >> std::ws, title);
        const auto id = idAt(n);
        if (!id || title.empty()) return message("rename: give a number from the list and a title"), 0;
        client_->mutate("renameTodo", json::object{{"id", *id}, {"title", title}, {"updatedAt", nowMs()}});
      } else if (cmd == "done" || cmd == "delete" || cmd == "share" || cmd == "unshare") {
        const auto id = idAt(std::strtoul(rest.c_str(), nullptr, 10));
        if (!id) return message(cmd + ": give a number from the list"), 0;
        if (cmd == "done") {
          client_->mutate("markDone", json::object{{"id", *id}, {"updatedAt", nowMs()}});
        } else if (cmd == "delete") {
          client_->mutate("deleteTodo", json::object{{"id", *id}});
        } else {
          client_->mutate("shareTodo", json::object{{"id", *id}, {"shared", cmd == "share"}});
        }
      } else if (cmd == "offline" || cmd == "online") {
        offline_ = cmd == "offline";
        client_->setOffline(offline_);
      } else if (cmd == "sync") {
        client_->pushOnce();
        client_->pullOnce();
      } else if (cmd == "list") {
        printList();
      } else if (cmd == "status") {
        std::printf("%s\n", statusLine().c_str());
      } else if (cmd == "wait" || cmd == "gone") {
        // wait TITLE [MS]: until a todo with that title is in the list (gone: is not).
        std::string title = rest;
        int ms = 5000;
        if (const auto sp = rest.rfind(' '); sp != std::string::npos) {
          char* end = nullptr;
          const long v = std::strtol(rest.c_str() + sp + 1, &end, 10);
          if (end != rest.c_str() + sp + 1 && *end == '\0') {
            ms = static_cast<int>(v);
            title = rest.substr(0, sp);
          }
        }
        const bool want = cmd == "wait";
        std::unique_lock l(mu_);
        const bool ok = cv_.wait_for(l, std::chrono::milliseconds(ms), [&] {
          const bool has = std::any_of(rows_.begin(), rows_.end(), [&](const Row& r) { return r.title == title; });
          return has == want;
        });
        l.unlock();
        std::printf("%s %s: %s\n", cmd.c_str(), title.c_str(), ok ? "ok" : "timed out");
        return ok ? 0 : 1;
      } else if (cmd == "flush") {
        const int ms = rest.empty() ? 10000 : std::atoi(rest.c_str());
        const bool ok = client_->flush(std::chrono::milliseconds(ms));
        std::printf("flush: %s\n", ok ? "ok" : "timed out");
        return ok ? 0 : 1;
      } else if (cmd == "sleep") {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(rest.c_str())));
      } else {
        message("unknown command '" + cmd + "' (help lists them)");
      }
    } catch (const std::exception& e) {
      message(cmd + " failed: " + e.what());
    }
    return 0;
  }

  std::optional<std::string> idAt(std::size_t n) {
    std::lock_guard l(mu_);
    if (n == 0 || n > rows_.size()) return std::nullopt;
    return rows_[n - 1].id;
  }

  void message(const std::string& m) {
    std::lock_guard l(mu_);
    if (interactive_) {
      note_ = m;
    } else {
      std::printf("%s\n", m.c_str());
    }
  }

  std::string statusLine() {
    const std::size_t pending = client_->pendingCount();
    const auto cookie = client_->cookie();
    const auto stats = client_->stats();
    std::lock_guard l(mu_);
    if (stats.pulls > last_pulls_) online_ = true;  // answered since the last look
    last_pulls_ = stats.pulls;
    std::string s = args_.user + " @ " + args_.host + ":" + std::to_string(args_.port) + " — ";
    s += offline_ ? "offline" : (online_ ? "online" : "unreachable");
    s += " — " + std::to_string(pending) + " pending";
    s += " — cookie " + (cookie ? std::to_string(*cookie) : std::string("none"));
    return s;
  }

  void printList() {
    std::lock_guard l(mu_);
    std::size_t n = 0;
    for (const auto& r : rows_) {
      std::printf("%3zu. [%c] %s%s%s\n", ++n, r.done ? 'x' : ' ', r.title.c_str(), r.shared ? "  (shared)" : "",
                  r.owner != args_.user ? ("  — " + r.owner).c_str() : "");
    }
    if (rows_.empty()) std::printf("  (no todos)\n");
  }

  void redraw() {
    std::lock_guard draw(draw_mu_);
    const std::string status = statusLine();
    std::printf("\x1b[H\x1b[2Jplasma todo — %s\n\n", status.c_str());
    printList();
    std::string note, error;
    {
      std::lock_guard l(mu_);
      note = note_;
      error = last_error_;
    }
    std::printf("\n%s%s%s\nadd TITLE | rename N TITLE | done N | delete N | share N | offline | online | quit\n> ",
                note.c_str(), note.empty() ? "" : "\n", error.empty() ? "" : ("last error: " + error).c_str());
    std::fflush(stdout);
  }

  Args args_;
  bool interactive_;
  std::unique_ptr<plasma::client::Client> client_;
  std::optional<plasma::LiveQuery> live_;
  plasma::LiveSubscription sub_;
  std::mutex mu_, draw_mu_;
  std::condition_variable cv_;
  std::vector<Row> rows_;
  std::uint64_t version_ = 0;
  std::string note_, last_error_;
  bool online_ = true;
  std::uint64_t last_pulls_ = 0;
  bool offline_ = false;
  std::atomic<bool> done_{false};
  std::thread ticker_;
};

}  // namespace

int main(int argc, char** argv) {
  const Args args = parseArgs(argc, argv);
  try {
    App app(args);
    return app.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plasma-todo-client: %s\n", e.what());
    return 1;
  }
}
