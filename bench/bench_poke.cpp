// bench/bench_poke.cpp — WebSocket poke fan-out latency (issue 6): from a
// push's commit to every socket that should hear of it having received its
// poke, on loopback.
//
// The node runs in this process (todo app, Durability::NoSync so the
// figure is the fan-out, not fsync; 2 I/O threads). The sockets live in a
// forked child process: 1,000 rooms of 10 need 10,000 client and 10,000
// server file descriptors, more than one process may open here (the hard
// limit is 20,000), and a child also keeps the clients' reading off the
// node's threads' timing. The child speaks WebSocket by hand (handshake,
// unmasked server frames) over epoll and timestamps each socket's poke with
// CLOCK_MONOTONIC, which the parent's steady_clock shares; the parent
// timestamps the commit with a Database::onCommit observer.
//
// Per iteration: the parent tells the child the head before the push, then
// pushes one renameTodo through HTTP; the child waits until every target
// socket got a poke with a newer version and reports the first and last
// arrival. Counters (milliseconds, over the iterations):
//   last_p50_ms / last_p99_ms   commit -> the LAST target socket notified
//   first_p50_ms                commit -> the first one
//   sockets                     sockets notified per push
//
// Workloads (`<workload>/plasma`):
//   poke_fanout_10, _100, _1000            one room of N sockets (one user), every socket poked
//   poke_rooms1000x10_private              1,000 rooms of 10 (one user per room): a private
//                                          todo of room 0's user pokes room 0 only — the other
//                                          999 rooms' read predicates are checked and skip
//   poke_rooms1000x10_shared               the same rooms, a shared todo: all 10,000 sockets
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/json.hpp>

#include "bench_common.hpp"
#include "net/http_client.hpp"
#include "bench_todo_node.hpp"
#include "node/node.hpp"
#include "todo_app.hpp"  // examples/todo (the todo_app target)

namespace plasma_bench {

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t monoNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Raises the open-files soft limit to the hard limit (inherited by the child).
void raiseFdLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &r);
  }
}

// Blocking line I/O on the parent<->child socketpair.
void writeLine(int fd, const std::string& line) {
  const std::string s = line + "\n";
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) throw std::runtime_error("bench_poke: pipe write failed");
    off += static_cast<std::size_t>(n);
  }
}
std::string readLine(int fd) {
  std::string s;
  char c = 0;
  for (;;) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n <= 0) throw std::runtime_error("bench_poke: the socket process went away");
    if (c == '\n') return s;
    s.push_back(c);
  }
}

// ---- the child: N WebSocket clients over epoll -----------------------------------------

struct ClientSocket {
  int fd = -1;
  std::string buf;          // unparsed bytes
  std::uint64_t seen = 0;   // newest poke version received
  bool target = false;      // this iteration waits for it
  bool done = false;        // got a poke newer than the iteration's base
};

int connectWs(std::uint16_t port, const std::string& target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string req = "GET " + target +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    throw std::runtime_error("handshake send failed");
  }
  std::string resp;
  char tmp[1024];
  while (resp.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) throw std::runtime_error("handshake: connection closed");
    resp.append(tmp, static_cast<std::size_t>(n));
  }
  if (!resp.starts_with("HTTP/1.1 101")) throw std::runtime_error("handshake refused: " + resp.substr(0, 40));
  return fd;
}

// Parses whole frames in s.buf; returns the newest poke version seen.
void parseFrames(ClientSocket& s) {
  std::size_t off = 0;
  for (;;) {
    if (s.buf.size() - off < 2) break;
    const auto* b = reinterpret_cast<const unsigned char*>(s.buf.data() + off);
    std::size_t len = b[1] & 0x7f, head = 2;
    if (len == 126) {
      if (s.buf.size() - off < 4) break;
      len = (std::size_t{b[2]} << 8) | b[3];
      head = 4;
    } else if (len == 127) {
      if (s.buf.size() - off < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | b[2 + i];
      head = 10;
    }
    if (s.buf.size() - off < head + len) break;
    const std::string_view payload(s.buf.data() + off + head, len);
    if ((b[0] & 0x0f) == 1) {  // text: {"type":"poke","room":..,"version":N}
      const auto at = payload.find("\"version\":");
      if (at != std::string_view::npos) {
        std::uint64_t v = 0;
        const char* p = payload.data() + at + 10;
        std::from_chars(p, payload.data() + payload.size(), v);
        s.seen = std::max(s.seen, v);
      }
    }
    off += head + len;
  }
  s.buf.erase(0, off);
}

[[noreturn]] void childMain(int ctl, std::uint16_t port, std::size_t rooms, std::size_t per_room) {
  try {
    std::vector<ClientSocket> sockets(rooms * per_room);
    const int ep = epoll_create1(0);
    for (std::size_t r = 0; r < rooms; ++r) {
      for (std::size_t i = 0; i < per_room; ++i) {
        ClientSocket& s = sockets[r * per_room + i];
        // Room r's sockets act for user u<r> (one view class per room).
        s.fd = connectWs(port, "/sync/ws?clientGroupID=r" + std::to_string(r) + "&clientID=c" + std::to_string(i) +
                                   "&user=u" + std::to_string(r) + "&presence=off");
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = r * per_room + i;
        epoll_ctl(ep, EPOLL_CTL_ADD, s.fd, &ev);
      }
    }
    writeLine(ctl, "ready");
    std::vector<epoll_event> events(1024);
    std::vector<std::int64_t> arrivals;
    char tmp[4096];
    for (;;) {
      // "go BASE ROOMS": wait for every socket of the first ROOMS rooms to
      // get a poke with a version above BASE. "quit".
      const std::string cmd = readLine(ctl);
      if (cmd == "quit") break;
      std::uint64_t base = 0;
      std::size_t target_rooms = 0;
      std::sscanf(cmd.c_str(), "go %lu %zu", &base, &target_rooms);
      std::size_t waiting = 0;
      for (std::size_t k = 0; k < sockets.size(); ++k) {
        ClientSocket& s = sockets[k];
        s.target = k < target_rooms * per_room;
        s.done = s.seen > base;
        if (s.target && !s.done) ++waiting;
      }
      writeLine(ctl, "armed");
      arrivals.clear();
      const auto deadline = monoNs() + 10'000'000'000;
      while (waiting > 0 && monoNs() < deadline) {
        const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
        const std::int64_t now = monoNs();
        for (int e = 0; e < n; ++e) {
          ClientSocket& s = sockets[events[e].data.u64];
          const ssize_t got = ::recv(s.fd, tmp, sizeof tmp, MSG_DONTWAIT);
          if (got <= 0) continue;
          s.buf.append(tmp, static_cast<std::size_t>(got));
          parseFrames(s);
          if (s.target && !s.done && s.seen > base) {
            s.done = true;
            --waiting;
            arrivals.push_back(now);
          }
        }
      }
      if (waiting > 0) {
        writeLine(ctl, "timeout " + std::to_string(waiting));
        continue;
      }
      std::sort(arrivals.begin(), arrivals.end());
      writeLine(ctl, "done " + std::to_string(arrivals.front()) + " " + std::to_string(arrivals.back()) + " " +
                         std::to_string(arrivals.size()));
    }
  } catch (const std::exception& e) {
    try {
      writeLine(ctl, std::string("error ") + e.what());
    } catch (...) {
    }
  }
  _exit(0);  // no atexit handlers, no destructors of the parent's objects
}

// ---- the parent: the node, the pusher, the measurements ---------------------------------

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

void pokeFanout(benchmark::State& state, std::size_t rooms, std::size_t per_room, bool shared,
                std::size_t target_rooms) {
  raiseFdLimit();
  const auto dir = workDir() / ("poke_" + std::to_string(rooms) + "x" + std::to_string(per_room) +
                                (shared ? "_shared" : "_private"));
  std::filesystem::remove_all(dir);

  plasma::node::NodeOptions o;
  o.port = 0;
  o.data_dir = dir;
  o.threads = 2;
  o.durability = plasma::Durability::NoSync;
  o.log_level = plasma::node::LogLevel::Warn;
  o.max_connections = 30000;
  o.ws_ping_interval = std::chrono::hours(1);  // idle sockets stay quiet during the run
  o.map_size_bytes = std::size_t{1} << 30;
  const plasma::node::AppSpec app = todoNodeApp("demo-user");
  plasma::node::Node node(o, app);
  node.start();

  // The commit time of the latest commit (the pushes are the only writes).
  std::atomic<std::int64_t> committed_ns{0};
  auto sub = node.database().onCommit([&](const std::shared_ptr<const plasma::CommitEvent>&) {
    committed_ns.store(monoNs(), std::memory_order_release);
  });

  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) throw std::runtime_error("socketpair failed");
  const pid_t child = fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) {
    ::close(pair[0]);
    childMain(pair[1], node.port(), rooms, per_room);
  }
  ::close(pair[1]);
  const int ctl = pair[0];
  struct Reap {
    int ctl;
    pid_t pid;
    ~Reap() {
      try {
        writeLine(ctl, "quit");
      } catch (...) {
      }
      ::close(ctl);
      waitpid(pid, nullptr, 0);
      // Let the node see every socket close before it stops (see the
      // report: net/ must not be stopped with WebSocket reads in flight).
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  } reap{ctl, child};

  const std::string ready = readLine(ctl);
  if (ready != "ready") {
    state.SkipWithError(("socket process: " + ready).c_str());
    return;
  }

  // The todo every push renames: owned by room 0's user, shared or not.
  plasma::net::HttpClient http("127.0.0.1", node.port());
  std::int64_t mutation = 0;
  auto push = [&](const std::string& name, boost::json::object args) {
    const std::string body = boost::json::serialize(boost::json::object{
        {"profileID", "p"},
        {"clientGroupID", "r0"},
        {"pushVersion", 1},
        {"schemaVersion", todo::kSchemaVersion},
        {"mutations", boost::json::array{boost::json::object{{"clientID", "pusher"},
                                                             {"id", ++mutation},
                                                             {"name", name},
                                                             {"args", std::move(args)},
                                                             {"timestamp", 1}}}}});
    const auto r = http.request("POST", "/sync/push", body, "application/json", {{"X-User", "u0"}});
    if (r.status != 200) throw std::runtime_error("push failed: " + r.body);
  };
  push("createTodo", {{"id", "t"}, {"title", "x"}, {"updatedAt", 0}});
  if (shared) push("shareTodo", {{"id", "t"}, {"shared", true}});

  std::vector<double> first_ms, last_ms;
  std::size_t notified = 0;
  for (auto _ : state) {
    const std::uint64_t base = node.database().headVersion();
    writeLine(ctl, "go " + std::to_string(base) + " " + std::to_string(target_rooms));
    if (readLine(ctl) != "armed") throw std::runtime_error("socket process out of step");
    push("renameTodo", {{"id", "t"}, {"title", "v" + std::to_string(mutation)}, {"updatedAt", mutation}});
    const std::string reply = readLine(ctl);
    std::int64_t first = 0, last = 0;
    if (std::sscanf(reply.c_str(), "done %ld %ld %zu", &first, &last, &notified) != 3) {
      state.SkipWithError(("socket process: " + reply).c_str());
      break;
    }
    const std::int64_t c = committed_ns.load(std::memory_order_acquire);
    first_ms.push_back(static_cast<double>(first - c) / 1e6);
    last_ms.push_back(static_cast<double>(last - c) / 1e6);
  }
  state.counters["last_p50_ms"] = percentile(last_ms, 0.5);
  state.counters["last_p99_ms"] = percentile(last_ms, 0.99);
  state.counters["first_p50_ms"] = percentile(first_ms, 0.5);
  state.counters["sockets"] = static_cast<double>(notified);
  state.counters["view_classes"] = static_cast<double>(node.realtime().stats().view_classes);
}

}  // namespace

void registerPokeBenchmarks() {
  auto add = [](const std::string& name, std::size_t rooms, std::size_t per_room, bool shared, std::size_t targets) {
    benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) {
      pokeFanout(s, rooms, per_room, shared, targets);
    })->Unit(benchmark::kMillisecond);
  };
  for (std::size_t n : {10, 100, 1000}) add("poke_fanout_" + std::to_string(n) + "/plasma", 1, n, false, 1);
  add("poke_rooms1000x10_private/plasma", 1000, 10, false, 1);
  add("poke_rooms1000x10_shared/plasma", 1000, 10, true, 1000);
}

}  // namespace plasma_bench
