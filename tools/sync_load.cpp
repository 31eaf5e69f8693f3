// plasma-sync-load: end-to-end load on a node over loopback HTTP and WebSocket.
//
//   plasma-sync-load [--clients 8] [--seconds 10] [--batch 100] [--encoding json|fbs]
//                    [--durability wal|wal-async|full|nometasync|nosync] [--port P [--node-pid PID]]
//                    [--watchers W] [--idle-ws N] [--no-pull] [--json FILE]
//
// Without --port it starts a node (the todo app) in this process on a fresh temporary
// directory; with --port it loads a running plasma-node (scripts/bench/run.sh starts one and
// passes --node-pid so that the node's CPU time and resident memory are reported).
//
// Phases:
//  1. --idle-ws N: N WebSockets are opened (each its own room and client group, user
//     "idle-u", presence off — nothing the load writes is visible to them) and kept open, one
//     asynchronous read pending on each (so the node's pings are answered), until the end.
//     The node's resident memory before and after gives the memory per idle socket.
//  2. Load, for --seconds: K client threads, each its own keep-alive connection, client group,
//     client and user, each looping push (a batch of --batch createTodo/markDone/deleteTodo,
//     50% / 40% / 10%) then pull since its cookie (GET with query parameters, what a polling
//     client sends). The first W clients also have a watcher: a second client of the same
//     group with a WebSocket that pulls on every poke; poke-to-pull latency is the time from a
//     push being sent to the watcher's pull having returned its mutations (each push counted
//     once). After the load the watchers must reach the last pushed mutation on pokes alone
//     within 10 s, else the poke counts as lost. --no-pull: the clients only push.
//  3. Bulk pull: every client pulls its whole group from a null cookie (all pages).
//
// Prints a summary; --json writes every figure for scripts/bench/report.py. Exit status 1
// when anything failed (an HTTP error, a socket closed by the node, a lost poke).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include "net/http_client.hpp"
#include "node/node.hpp"
#include "sync/codec.hpp"
#include "todo/todo_app.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace json = boost::json;
namespace asio = boost::asio;
namespace beast = boost::beast;

struct Args {
  int clients = 8;
  double seconds = 10;
  int batch = 100;
  plasma::sync::Encoding encoding = plasma::sync::Encoding::Json;
  plasma::Durability durability = plasma::Durability::Wal;  // the node's default
  int port = 0;
  int node_pid = 0;
  int watchers = -1;  // -1: min(clients, 4)
  int idle_ws = 0;
  bool no_pull = false;  // clients only push (the push-throughput curve)
  std::string json_out;
};

[[noreturn]] void usageError(const std::string& message) {
  std::cerr << "plasma-sync-load: " << message
            << "\nusage: plasma-sync-load [--clients N] [--seconds S] [--batch N] [--encoding json|fbs]"
               " [--durability wal|wal-async|full|nometasync|nosync] [--port P [--node-pid PID]] [--watchers W] [--idle-ws N]"
               " [--no-pull] [--json FILE]\n";
  std::exit(2);
}

int parseInt(const std::string& flag, const char* v, int min, int max) {
  int n = 0;
  const std::string_view s(v);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || n < min || n > max) {
    usageError(flag + ": expected a number from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return n;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usageError(f + ": missing value");
      return argv[++i];
    };
    if (f == "--clients") {
      a.clients = parseInt(f, value(), 0, 1024);
    } else if (f == "--seconds") {
      a.seconds = parseInt(f, value(), 0, 3600);
    } else if (f == "--batch") {
      a.batch = parseInt(f, value(), 1, 10000);
    } else if (f == "--port") {
      a.port = parseInt(f, value(), 1, 65535);
    } else if (f == "--node-pid") {
      a.node_pid = parseInt(f, value(), 1, 1 << 30);
    } else if (f == "--watchers") {
      a.watchers = parseInt(f, value(), 0, 1024);
    } else if (f == "--idle-ws") {
      a.idle_ws = parseInt(f, value(), 0, 1000000);
    } else if (f == "--no-pull") {
      a.no_pull = true;
    } else if (f == "--json") {
      a.json_out = value();
    } else if (f == "--encoding") {
      const std::string v = value();
      if (v == "json") {
        a.encoding = plasma::sync::Encoding::Json;
      } else if (v == "fbs") {
        a.encoding = plasma::sync::Encoding::FlatBuffers;
      } else {
        usageError("--encoding: json or fbs");
      }
    } else if (f == "--durability") {
      const std::string v = value();
      const auto d = plasma::node::parseDurability(v);
      if (!d) usageError(std::string("--durability: ") + plasma::node::kDurabilityChoices);
      a.durability = *d;
    } else if (f == "--help") {
      usageError("help");
    } else {
      usageError("unknown argument " + f);
    }
  }
  if (a.node_pid != 0 && a.port == 0) usageError("--node-pid needs --port (the in-process node is this process)");
  if (a.watchers < 0) a.watchers = std::min(a.clients, 4);
  if (a.watchers > a.clients) usageError("--watchers: at most --clients");
  return a;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// ---- the node's CPU time and resident memory, from /proc -----------------------------------

struct ProcSample {
  double cpu_seconds = 0;  // user + system, all threads (children not included)
  double rss_bytes = 0;       // VmRSS: includes the LMDB map's file pages the node touched
  double rss_anon_bytes = 0;  // RssAnon: the heap and stacks alone
};

ProcSample sampleProc(int pid) {
  ProcSample s;
  const std::string base = pid == 0 ? "/proc/self" : "/proc/" + std::to_string(pid);
  std::ifstream stat(base + "/stat");
  std::string line;
  if (std::getline(stat, line)) {
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const auto close = line.rfind(')');
    std::istringstream in(line.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int k = 3; in >> field; ++k) {
      if (k == 14) utime = std::stod(field);
      if (k == 15) {
        stime = std::stod(field);
        break;
      }
    }
    s.cpu_seconds = (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  std::ifstream status(base + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_bytes = std::stod(line.substr(6)) * 1024.0;  // "VmRSS:   1234 kB"
    if (line.rfind("RssAnon:", 0) == 0) s.rss_anon_bytes = std::stod(line.substr(8)) * 1024.0;
  }
  return s;
}

// ---- idle WebSockets: asynchronous, one io_context thread, a read always pending ---------

class IdleSockets {
 public:
  IdleSockets(std::uint16_t port, int count) : port_(port), count_(count) {}
  ~IdleSockets() { stop(); }

  // Opens every socket (at most 256 handshakes in flight); returns when all are open or
  // failed, or after 120 s.
  void open() {
    if (count_ == 0) return;
    sockets_.resize(static_cast<std::size_t>(count_));
    const int inflight = std::min(count_, 256);
    for (int k = 0; k < inflight; ++k) startNext();
    thread_ = std::thread([this] { ioc_.run(); });
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(120), [this] { return finished_ == count_; });
  }

  int opened() const { return opened_.load(); }
  int failed() const { return failed_.load(); }
  int closedByNode() const { return closed_.load(); }
  std::uint64_t messages() const { return messages_.load(); }
  std::string firstError() {
    std::lock_guard lock(mu_);
    return first_error_;
  }

  void stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    work_.reset();
    ioc_.stop();
    thread_.join();
    sockets_.clear();
  }

 private:
  using Ws = beast::websocket::stream<beast::tcp_stream>;
  struct Socket {
    std::unique_ptr<Ws> ws;
    beast::flat_buffer buffer;
  };

  void startNext() {
    const int i = next_++;
    if (i >= count_) return;
    Socket& s = sockets_[static_cast<std::size_t>(i)];
    s.ws = std::make_unique<Ws>(ioc_);
    const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port_);
    beast::get_lowest_layer(*s.ws).expires_after(std::chrono::seconds(60));
    beast::get_lowest_layer(*s.ws).async_connect(ep, [this, i, &s](beast::error_code ec) {
      if (ec) return done(i, false, "connect: " + ec.message());
      const std::string target = "/sync/ws?clientGroupID=idle-g" + std::to_string(i) + "&clientID=idle-c" +
                                 std::to_string(i) + "&presence=off&user=idle-u";
      s.ws->async_handshake("127.0.0.1:" + std::to_string(port_), target, [this, i, &s](beast::error_code hec) {
        if (hec) return done(i, false, "handshake: " + hec.message());
        beast::get_lowest_layer(*s.ws).expires_never();
        done(i, true, {});
        read(s);
      });
    });
  }

  void read(Socket& s) {
    s.ws->async_read(s.buffer, [this, &s](beast::error_code ec, std::size_t) {
      if (ec) {
        if (!stopping_) {
          ++closed_;
          std::lock_guard lock(mu_);
          if (first_error_.empty()) first_error_ = "idle socket closed: " + ec.message();
        }
        return;
      }
      ++messages_;
      s.buffer.clear();
      read(s);
    });
  }

  void done(int, bool ok, const std::string& error) {
    (ok ? opened_ : failed_)++;
    if (!ok) {
      std::lock_guard lock(mu_);
      if (first_error_.empty()) first_error_ = error;
    }
    {
      std::lock_guard lock(mu_);
      ++finished_;
    }
    cv_.notify_all();
    startNext();
  }

  std::uint16_t port_;
  int count_;
  asio::io_context ioc_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  std::vector<Socket> sockets_;
  std::thread thread_;
  int next_ = 0;  // only on the io thread after open() started it (and before, on the caller's)
  std::atomic<int> opened_{0}, failed_{0}, closed_{0};
  std::atomic<std::uint64_t> messages_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  int finished_ = 0;
  std::string first_error_;
};

// ---- the load --------------------------------------------------------------------------

struct PushMark {
  std::int64_t last_mutation_id;
  Clock::time_point sent;
};

struct ClientResult {
  std::uint64_t mutations = 0;
  std::uint64_t pushes = 0;
  std::uint64_t errors = 0;
  std::string first_error;
  std::vector<double> push_ms;
  std::vector<double> pull_ms;  // incremental pulls during the load
  std::uint64_t pulled_rows = 0;
  std::uint64_t bulk_rows = 0;
  std::vector<double> bulk_pull_ms;
  // Shared with the watcher.
  std::mutex mu;
  std::vector<PushMark> marks;
  std::int64_t last_pushed = 0;
};

struct WatcherResult {
  std::uint64_t pokes = 0;
  std::uint64_t pulls = 0;
  std::uint64_t errors = 0;
  std::string first_error;
  std::vector<double> poke_to_pull_ms;
  bool caught_up = false;
  std::int64_t seen = 0;
  std::atomic<bool> finished{false};  // the fields above are read once this is set (or after join)
};

std::string pullTarget(const std::string& group, std::uint64_t cookie, bool have_cookie) {
  std::string t = "/sync/pull?clientGroupID=" + group + "&schemaVersion=" + todo::kSchemaVersion +
                  "&profileID=load&pullVersion=1";
  if (have_cookie) t += "&cookie=" + std::to_string(cookie);
  return t;
}

void noteError(std::uint64_t& errors, std::string& first, const std::string& what) {
  ++errors;
  if (first.empty()) first = what;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  std::unique_ptr<plasma::node::Node> node;
  std::filesystem::path dir;
  std::uint16_t port = static_cast<std::uint16_t>(args.port);
  if (port == 0) {
    dir = std::filesystem::temp_directory_path() / ("plasma-load-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    plasma::node::NodeOptions o;
    o.port = 0;
    o.data_dir = dir;
    o.durability = args.durability;
    o.log_level = plasma::node::LogLevel::Warn;
    o.map_size_bytes = std::size_t{8} << 30;
    o.max_connections = static_cast<std::size_t>(args.idle_ws) + 1024;
    plasma::node::AppSpec app;
    app.schema = &todo::schema;
    app.runner = plasma::sync::runnerFor(todo::mutators());
    node = std::make_unique<plasma::node::Node>(o, app);
    node->start();
    port = node->port();
  }
  const int pid = node ? 0 : args.node_pid;  // 0: this process (in-process node)
  const bool measure_node = node != nullptr || args.node_pid != 0;
  json::object out;
  out["clients"] = args.clients;
  out["batch"] = args.batch;
  out["encoding"] = args.encoding == plasma::sync::Encoding::Json ? "json" : "fbs";
  out["durability"] = plasma::node::durabilityName(args.durability);
  out["watchers"] = args.watchers;
  bool failed = false;

  // 1. Idle sockets.
  IdleSockets idle(port, args.idle_ws);
  if (args.idle_ws > 0) {
    const ProcSample before = sampleProc(pid);
    const auto t0 = Clock::now();
    idle.open();
    const double open_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // let the node settle its buffers
    const ProcSample after = sampleProc(pid);
    const double per_socket = idle.opened() > 0 ? (after.rss_bytes - before.rss_bytes) / idle.opened() : 0;
    const double per_socket_anon =
        idle.opened() > 0 ? (after.rss_anon_bytes - before.rss_anon_bytes) / idle.opened() : 0;
    std::printf("idle websockets: %d open, %d failed in %.1f s%s; node RSS %.1f -> %.1f MiB: %.0f bytes per socket "
                "(anonymous: %.0f)\n",
                idle.opened(), idle.failed(), open_s, measure_node ? "" : " (no --node-pid: RSS not measured)",
                before.rss_bytes / 1048576.0, after.rss_bytes / 1048576.0, per_socket, per_socket_anon);
    if (idle.failed() != 0) {
      std::printf("idle websockets: first error: %s\n", idle.firstError().c_str());
      failed = true;
    }
    out["idle_ws"] = json::object{{"requested", args.idle_ws},      {"opened", idle.opened()},
                                  {"failed", idle.failed()},        {"open_seconds", open_s},
                                  {"rss_before_bytes", before.rss_bytes}, {"rss_after_bytes", after.rss_bytes},
                                  {"bytes_per_socket", per_socket}, {"anon_bytes_per_socket", per_socket_anon},
                                  {"rss_anon_before_bytes", before.rss_anon_bytes},
                                  {"rss_anon_after_bytes", after.rss_anon_bytes}, {"in_process_node", node != nullptr}};
  }

  // 2. Load: push + pull per client, watchers on WebSockets.
  const std::string type(plasma::sync::contentType(args.encoding));
  std::vector<ClientResult> results(static_cast<std::size_t>(args.clients));
  std::vector<WatcherResult> watchers(static_cast<std::size_t>(args.watchers));
  std::atomic<bool> stop{false};
  std::atomic<bool> watchers_stop{false};
  std::vector<std::thread> threads, watcher_threads;
  std::vector<double> rss_series, anon_series;  // the node's RSS and RssAnon once a second during the load
  const ProcSample load_before = sampleProc(pid);
  const auto start = Clock::now();
  for (int t = 0; t < args.watchers; ++t) {
    watcher_threads.emplace_back([&, t] {
      WatcherResult& w = watchers[static_cast<std::size_t>(t)];
      ClientResult& pusher = results[static_cast<std::size_t>(t)];
      const std::string group = "load-g" + std::to_string(t), user = "load-u" + std::to_string(t);
      const std::string client = "load-c" + std::to_string(t);
      try {
       [&] {
        plasma::net::WsClient ws("127.0.0.1", port,
                                 "/sync/ws?clientGroupID=" + group + "&clientID=watch-" + std::to_string(t) +
                                     "&presence=off&user=" + user);
        plasma::net::HttpClient http("127.0.0.1", port, std::chrono::seconds(60));
        const std::vector<plasma::net::Header> headers{{"X-User", user}};
        std::uint64_t cookie = 0;
        bool have_cookie = false;
        std::size_t next_mark = 0;
        auto pullOnce = [&] {
          for (;;) {
            const auto resp = http.request("GET", pullTarget(group, cookie, have_cookie), {}, "", headers);
            ++w.pulls;
            if (resp.status != 200) {
              noteError(w.errors, w.first_error, "watcher pull: HTTP " + std::to_string(resp.status) + " " + resp.body);
              return;
            }
            const auto d = plasma::sync::decodePullResponse(plasma::sync::Encoding::Json, resp.body);
            cookie = d.cookie;
            have_cookie = true;
            if (const auto it = d.last_mutation_id_changes.find(client); it != d.last_mutation_id_changes.end()) {
              w.seen = std::max(w.seen, it->second);
            }
            if (!d.more) break;
          }
          const auto now = Clock::now();
          std::lock_guard lock(pusher.mu);
          while (next_mark < pusher.marks.size() && pusher.marks[next_mark].last_mutation_id <= w.seen) {
            w.poke_to_pull_ms.push_back(
                std::chrono::duration<double, std::milli>(now - pusher.marks[next_mark].sent).count());
            ++next_mark;
          }
        };
        pullOnce();  // as a client does after connecting
        for (;;) {
          const auto msg = ws.readText(std::chrono::milliseconds(100));
          if (msg && msg->find("\"poke\"") != std::string::npos) {
            ++w.pokes;
            pullOnce();
          } else if (!msg && !ws.isOpen()) {
            noteError(w.errors, w.first_error, "watcher socket closed by the node");
            return;
          }
          if (watchers_stop.load()) {
            std::lock_guard lock(pusher.mu);
            w.caught_up = w.seen >= pusher.last_pushed;
            return;
          }
          if (stop.load()) {
            std::lock_guard lock(pusher.mu);
            if (w.seen >= pusher.last_pushed) {
              w.caught_up = true;
              return;
            }
          }
        }
       }();
      } catch (const std::exception& e) {
        noteError(w.errors, w.first_error, std::string("watcher: ") + e.what());
      }
      w.finished = true;
    });
  }
  for (int t = 0; t < args.clients; ++t) {
    threads.emplace_back([&, t] {
      ClientResult& r = results[static_cast<std::size_t>(t)];
      try {
        plasma::net::HttpClient http("127.0.0.1", port, std::chrono::seconds(60));
        std::mt19937_64 rng(static_cast<std::uint64_t>(t) + 1);
        const std::string group = "load-g" + std::to_string(t), client = "load-c" + std::to_string(t);
        const std::vector<plasma::net::Header> headers{{"X-User", "load-u" + std::to_string(t)}};
        std::vector<std::string> live;  // todos this client created and did not delete
        std::int64_t next = 1;
        std::uint64_t cookie = 0;
        bool have_cookie = false;
        while (!stop.load(std::memory_order_relaxed)) {
          plasma::sync::PushRequest push;
          push.client_group_id = group;
          push.profile_id = "load";
          push.schema_version = todo::kSchemaVersion;
          for (int i = 0; i < args.batch; ++i, ++next) {
            const auto roll = rng() % 10;
            plasma::sync::Mutation m{client, next, "", {}, 0};
            if (roll < 5 || live.empty()) {
              live.push_back(plasma::newId());
              m.name = "createTodo";
              m.args = json::object{{"id", live.back()}, {"title", "load test todo"}, {"updatedAt", next}};
            } else if (roll < 9) {
              m.name = "markDone";
              m.args = json::object{{"id", live[rng() % live.size()]}, {"updatedAt", next}};
            } else {
              const auto k = rng() % live.size();
              m.name = "deleteTodo";
              m.args = json::object{{"id", live[k]}};
              live[k] = live.back();
              live.pop_back();
            }
            push.mutations.push_back(std::move(m));
          }
          const std::string body = plasma::sync::encodePushRequest(args.encoding, push);
          const auto t0 = Clock::now();
          {
            std::lock_guard lock(r.mu);
            r.marks.push_back({next - 1, t0});
          }
          const auto resp = http.request("POST", "/sync/push", body, type, headers);
          r.push_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          if (resp.status != 200) {
            noteError(r.errors, r.first_error, "push: HTTP " + std::to_string(resp.status) + " " + resp.body);
            break;
          }
          {
            std::lock_guard lock(r.mu);
            r.last_pushed = next - 1;
          }
          ++r.pushes;
          r.mutations += static_cast<std::uint64_t>(args.batch);
          if (args.no_pull) continue;
          // The pull a polling client makes after its push: GET since its cookie.
          const auto p0 = Clock::now();
          for (;;) {
            const auto pr = http.request("GET", pullTarget(group, cookie, have_cookie), {}, "", headers);
            if (pr.status != 200) {
              noteError(r.errors, r.first_error, "pull: HTTP " + std::to_string(pr.status) + " " + pr.body);
              break;
            }
            const auto d = plasma::sync::decodePullResponse(plasma::sync::Encoding::Json, pr.body);
            r.pulled_rows += d.patch.size();
            cookie = d.cookie;
            have_cookie = true;
            if (!d.more) break;
          }
          r.pull_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - p0).count());
          if (r.errors != 0) break;
        }
      } catch (const std::exception& e) {
        noteError(r.errors, r.first_error, std::string("client: ") + e.what());
      }
    });
  }
  const Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(args.seconds));
  while (Clock::now() < deadline) {
    std::this_thread::sleep_until(std::min<Clock::time_point>(deadline, Clock::now() + std::chrono::seconds(1)));
    if (measure_node) {
      const ProcSample p = sampleProc(pid);
      rss_series.push_back(p.rss_bytes);
      anon_series.push_back(p.rss_anon_bytes);
    }
  }
  stop = true;
  for (auto& th : threads) th.join();
  const double push_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const ProcSample load_after = sampleProc(pid);
  // Watchers: up to 10 s to see the last pushed mutation through pokes alone.
  const auto catch_up_deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < catch_up_deadline &&
         !std::all_of(watchers.begin(), watchers.end(), [](const WatcherResult& w) { return w.finished.load(); })) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  watchers_stop = true;
  for (auto& th : watcher_threads) th.join();

  // 3. Bulk pull: every client pulls its whole group from a null cookie.
  threads.clear();
  const auto pull_start = Clock::now();
  for (int t = 0; t < args.clients; ++t) {
    threads.emplace_back([&, t] {
      ClientResult& r = results[static_cast<std::size_t>(t)];
      try {
        plasma::net::HttpClient http("127.0.0.1", port, std::chrono::seconds(60));
        const std::vector<plasma::net::Header> headers{{"X-User", "load-u" + std::to_string(t)}};
        plasma::sync::PullRequest pull;
        pull.client_group_id = "load-g" + std::to_string(t);
        pull.schema_version = todo::kSchemaVersion;
        for (int page = 0; page < 100000; ++page) {
          const auto t0 = Clock::now();
          const auto resp =
              http.request("POST", "/sync/pull", plasma::sync::encodePullRequest(args.encoding, pull), type, headers);
          r.bulk_pull_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          if (resp.status != 200) {
            noteError(r.errors, r.first_error, "bulk pull: HTTP " + std::to_string(resp.status));
            break;
          }
          const auto decoded = plasma::sync::decodePullResponse(args.encoding, resp.body);
          r.bulk_rows += decoded.patch.size();
          pull.cookie = decoded.cookie;
          if (!decoded.more) break;
        }
      } catch (const std::exception& e) {
        noteError(r.errors, r.first_error, std::string("bulk pull: ") + e.what());
      }
    });
  }
  for (auto& th : threads) th.join();
  const double bulk_seconds = std::chrono::duration<double>(Clock::now() - pull_start).count();

  // Totals.
  std::uint64_t mutations = 0, pushes = 0, errors = 0, pulled = 0, bulk_rows = 0;
  std::vector<double> push_ms, pull_ms, bulk_ms, poke_ms;
  std::string first_error;
  for (auto& r : results) {
    mutations += r.mutations;
    pushes += r.pushes;
    errors += r.errors;
    pulled += r.pulled_rows;
    bulk_rows += r.bulk_rows;
    push_ms.insert(push_ms.end(), r.push_ms.begin(), r.push_ms.end());
    pull_ms.insert(pull_ms.end(), r.pull_ms.begin(), r.pull_ms.end());
    bulk_ms.insert(bulk_ms.end(), r.bulk_pull_ms.begin(), r.bulk_pull_ms.end());
    if (first_error.empty()) first_error = r.first_error;
  }
  std::uint64_t pokes = 0, lost = 0, watcher_errors = 0;
  for (auto& w : watchers) {
    pokes += w.pokes;
    watcher_errors += w.errors;
    if (!w.caught_up) ++lost;
    poke_ms.insert(poke_ms.end(), w.poke_to_pull_ms.begin(), w.poke_to_pull_ms.end());
    if (first_error.empty()) first_error = w.first_error;
  }
  const double node_cpu = load_after.cpu_seconds - load_before.cpu_seconds;

  std::printf("plasma-sync-load: %d clients (%d watching), batches of %d, %s, %s, %.1f s\n", args.clients,
              args.watchers, args.batch, args.encoding == plasma::sync::Encoding::Json ? "json" : "flatbuffers",
              plasma::node::durabilityName(args.durability), push_seconds);
  const double push_rate = push_seconds > 0 ? static_cast<double>(mutations) / push_seconds : 0;
  const double pull_rate = push_seconds > 0 ? static_cast<double>(pulled) / push_seconds : 0;
  std::printf("push: %llu mutations in %llu pushes: %.0f mutations/s; latency p50 %.2f ms, p99 %.2f ms, p999 %.2f ms\n",
              static_cast<unsigned long long>(mutations), static_cast<unsigned long long>(pushes), push_rate,
              percentile(push_ms, 0.5), percentile(push_ms, 0.99), percentile(push_ms, 0.999));
  std::printf("pull (since cookie, after each push): %llu rows in %zu pulls: %.0f rows/s; latency p50 %.2f ms, "
              "p99 %.2f ms, p999 %.2f ms\n",
              static_cast<unsigned long long>(pulled), pull_ms.size(), pull_rate, percentile(pull_ms, 0.5),
              percentile(pull_ms, 0.99), percentile(pull_ms, 0.999));
  std::printf("bulk pull (null cookie): %llu rows in %zu requests: %.0f rows/s; latency p50 %.2f ms, p99 %.2f ms\n",
              static_cast<unsigned long long>(bulk_rows), bulk_ms.size(),
              bulk_seconds > 0 ? static_cast<double>(bulk_rows) / bulk_seconds : 0, percentile(bulk_ms, 0.5),
              percentile(bulk_ms, 0.99));
  std::printf("poke to pull (push sent -> another client of the group pulled it): %zu pushes, %llu pokes; p50 %.2f ms, "
              "p99 %.2f ms, p999 %.2f ms; lost %llu\n",
              poke_ms.size(), static_cast<unsigned long long>(pokes), percentile(poke_ms, 0.5),
              percentile(poke_ms, 0.99), percentile(poke_ms, 0.999), static_cast<unsigned long long>(lost));
  double rss_first = rss_series.empty() ? 0 : rss_series.front();
  double rss_max = rss_series.empty() ? 0 : *std::max_element(rss_series.begin(), rss_series.end());
  if (measure_node) {
    std::printf("node%s: CPU %.2f s over the load (%.1f us per mutation), RSS %.1f MiB at the start, %.1f MiB at the "
                "end, %.1f MiB at most; anonymous (heap) RSS %.1f -> %.1f MiB\n",
                node ? " (in process, includes the clients)" : "", node_cpu,
                mutations > 0 ? node_cpu * 1e6 / static_cast<double>(mutations) : 0, load_before.rss_bytes / 1048576.0,
                load_after.rss_bytes / 1048576.0, rss_max / 1048576.0, load_before.rss_anon_bytes / 1048576.0,
                load_after.rss_anon_bytes / 1048576.0);
  }
  if (args.idle_ws > 0) {
    std::printf("idle websockets at the end: %d open, %d closed by the node, %llu messages received\n",
                idle.opened() - idle.closedByNode(), idle.closedByNode(),
                static_cast<unsigned long long>(idle.messages()));
    if (idle.closedByNode() != 0) {
      failed = true;
      if (first_error.empty()) first_error = idle.firstError();
    }
    out["idle_ws"].as_object()["closed_by_node"] = idle.closedByNode();
    out["idle_ws"].as_object()["messages"] = idle.messages();
  }
  json::array series, anon;
  for (double v : rss_series) series.push_back(v);
  for (double v : anon_series) anon.push_back(v);
  out["seconds"] = push_seconds;
  out["mutations"] = mutations;
  out["pushes"] = pushes;
  out["mutations_per_s"] = push_rate;
  out["push_ms"] = json::object{{"p50", percentile(push_ms, 0.5)},
                                {"p99", percentile(push_ms, 0.99)},
                                {"p999", percentile(push_ms, 0.999)}};
  out["pulls"] = pull_ms.size();
  out["pulled_rows"] = pulled;
  out["pulled_rows_per_s"] = pull_rate;
  out["pull_ms"] = json::object{{"p50", percentile(pull_ms, 0.5)},
                                {"p99", percentile(pull_ms, 0.99)},
                                {"p999", percentile(pull_ms, 0.999)}};
  out["bulk_pull_rows_per_s"] = bulk_seconds > 0 ? static_cast<double>(bulk_rows) / bulk_seconds : 0;
  out["poke_to_pull_ms"] = json::object{{"count", poke_ms.size()},
                                        {"p50", percentile(poke_ms, 0.5)},
                                        {"p99", percentile(poke_ms, 0.99)},
                                        {"p999", percentile(poke_ms, 0.999)}};
  out["pokes"] = pokes;
  out["lost_pokes"] = lost;
  out["errors"] = errors + watcher_errors;
  out["first_error"] = first_error;
  if (measure_node) {
    out["node_cpu_seconds"] = node_cpu;
    out["node_cpu_us_per_mutation"] = mutations > 0 ? node_cpu * 1e6 / static_cast<double>(mutations) : 0;
    out["node_rss_start_bytes"] = load_before.rss_bytes;
    out["node_rss_end_bytes"] = load_after.rss_bytes;
    out["node_rss_first_bytes"] = rss_first;
    out["node_rss_max_bytes"] = rss_max;
    out["node_rss_series_bytes"] = std::move(series);
    out["node_rss_anon_start_bytes"] = load_before.rss_anon_bytes;
    out["node_rss_anon_end_bytes"] = load_after.rss_anon_bytes;
    out["node_rss_anon_series_bytes"] = std::move(anon);
    out["node_in_process"] = node != nullptr;
  }
  if (!args.json_out.empty()) {
    std::ofstream f(args.json_out);
    f << json::serialize(out) << '\n';
    if (!f) {
      std::cerr << "plasma-sync-load: cannot write " << args.json_out << '\n';
      failed = true;
    }
  }
  idle.stop();
  if (node) {
    const auto s = node->syncServer().stats();
    std::printf("node: %llu commits for %llu pushes (largest group %llu)\n", static_cast<unsigned long long>(s.commits),
                static_cast<unsigned long long>(s.pushes), static_cast<unsigned long long>(s.largest_group));
    node->stop();
    std::filesystem::remove_all(dir);
  }
  if (errors + watcher_errors != 0 || lost != 0) {
    std::printf("errors: %llu, lost pokes: %llu; first: %s\n", static_cast<unsigned long long>(errors + watcher_errors),
                static_cast<unsigned long long>(lost), first_error.c_str());
    failed = true;
  }
  return failed ? 1 : 0;
}
