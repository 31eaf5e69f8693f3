// plasma-sync-load: end-to-end load on a node over loopback HTTP.
//
//   plasma-sync-load [--clients 8] [--seconds 10] [--batch 100] [--encoding json|fbs]
//                    [--durability full|nometasync] [--port P]
//
// Without --port it starts a node (the todo app) in this process on a fresh
// temporary directory; with --port it loads a running plasma-node. Each
// client thread has its own keep-alive connection, client group and client,
// and pushes batches of `--batch` createTodo/markDone/deleteTodo mutations
// (50% / 40% / 10%) back to back for the duration; then every client pulls
// its group from a null cookie and from the middle. Prints mutations/s,
// pulled rows/s and push/pull latency percentiles.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "net/http_client.hpp"
#include "node/node.hpp"
#include "sync/codec.hpp"
#include "todo/todo_app.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace json = boost::json;

struct Args {
  int clients = 8;
  double seconds = 10;
  int batch = 100;
  plasma::sync::Encoding encoding = plasma::sync::Encoding::Json;
  plasma::Durability durability = plasma::Durability::Full;
  int port = 0;
};

[[noreturn]] void usageError(const std::string& message) {
  std::cerr << "plasma-sync-load: " << message
            << "\nusage: plasma-sync-load [--clients N] [--seconds S] [--batch N] [--encoding json|fbs]"
               " [--durability full|nometasync] [--port P]\n";
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
      a.clients = parseInt(f, value(), 1, 1024);
    } else if (f == "--seconds") {
      a.seconds = parseInt(f, value(), 1, 3600);
    } else if (f == "--batch") {
      a.batch = parseInt(f, value(), 1, 10000);
    } else if (f == "--port") {
      a.port = parseInt(f, value(), 1, 65535);
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
      if (v == "full") {
        a.durability = plasma::Durability::Full;
      } else if (v == "nometasync") {
        a.durability = plasma::Durability::NoMetaSync;
      } else {
        usageError("--durability: full or nometasync");
      }
    } else {
      usageError("unknown argument " + f);
    }
  }
  return a;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

struct ClientResult {
  std::uint64_t mutations = 0;
  std::uint64_t pushes = 0;
  std::uint64_t errors = 0;
  std::vector<double> push_ms;
  std::uint64_t pulled_rows = 0;
  std::vector<double> pull_ms;
  double pull_seconds = 0;
};

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
    plasma::node::AppSpec app;
    app.schema = &todo::schema;
    app.runner = plasma::sync::runnerFor(todo::mutators());
    node = std::make_unique<plasma::node::Node>(o, app);
    node->start();
    port = node->port();
  }
  const std::string type(plasma::sync::contentType(args.encoding));
  std::vector<ClientResult> results(static_cast<std::size_t>(args.clients));
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int t = 0; t < args.clients; ++t) {
    threads.emplace_back([&, t] {
      ClientResult& r = results[static_cast<std::size_t>(t)];
      plasma::net::HttpClient http("127.0.0.1", port, std::chrono::seconds(60));
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) + 1);
      const std::string group = "load-g" + std::to_string(t), client = "load-c" + std::to_string(t);
      std::vector<std::string> live;  // todos this client created and did not delete
      std::int64_t next = 1;
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
        const auto resp = http.request("POST", "/sync/push", body, type);
        r.push_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (resp.status != 200) {
          ++r.errors;
          break;
        }
        ++r.pushes;
        r.mutations += static_cast<std::uint64_t>(args.batch);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(args.seconds));
  stop = true;
  for (auto& th : threads) th.join();
  const double push_seconds = std::chrono::duration<double>(Clock::now() - start).count();

  // Pulls: every client pulls its whole group (null cookie, all pages).
  threads.clear();
  const auto pull_start = Clock::now();
  for (int t = 0; t < args.clients; ++t) {
    threads.emplace_back([&, t] {
      ClientResult& r = results[static_cast<std::size_t>(t)];
      plasma::net::HttpClient http("127.0.0.1", port, std::chrono::seconds(60));
      plasma::sync::PullRequest pull;
      pull.client_group_id = "load-g" + std::to_string(t);
      pull.schema_version = todo::kSchemaVersion;
      for (int page = 0; page < 100000; ++page) {
        const auto t0 = Clock::now();
        const auto resp = http.request("POST", "/sync/pull", plasma::sync::encodePullRequest(args.encoding, pull), type);
        r.pull_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (resp.status != 200) {
          ++r.errors;
          break;
        }
        const auto decoded = plasma::sync::decodePullResponse(args.encoding, resp.body);
        r.pulled_rows += decoded.patch.size();
        pull.cookie = decoded.cookie;
        if (!decoded.more) break;
      }
    });
  }
  for (auto& th : threads) th.join();
  const double pull_seconds = std::chrono::duration<double>(Clock::now() - pull_start).count();

  ClientResult total;
  for (auto& r : results) {
    total.mutations += r.mutations;
    total.pushes += r.pushes;
    total.errors += r.errors;
    total.pulled_rows += r.pulled_rows;
    total.push_ms.insert(total.push_ms.end(), r.push_ms.begin(), r.push_ms.end());
    total.pull_ms.insert(total.pull_ms.end(), r.pull_ms.begin(), r.pull_ms.end());
  }
  std::printf("plasma-sync-load: %d clients, batches of %d, %s, %s, %.1f s\n", args.clients, args.batch,
              args.encoding == plasma::sync::Encoding::Json ? "json" : "flatbuffers",
              args.durability == plasma::Durability::Full ? "durable (full)" : "relaxed (nometasync)", push_seconds);
  std::printf("push: %llu mutations in %llu pushes: %.0f mutations/s; latency p50 %.2f ms, p99 %.2f ms\n",
              static_cast<unsigned long long>(total.mutations), static_cast<unsigned long long>(total.pushes),
              static_cast<double>(total.mutations) / push_seconds, percentile(total.push_ms, 0.5),
              percentile(total.push_ms, 0.99));
  std::printf("pull: %llu rows in %zu requests: %.0f rows/s; latency p50 %.2f ms, p99 %.2f ms\n",
              static_cast<unsigned long long>(total.pulled_rows), total.pull_ms.size(),
              static_cast<double>(total.pulled_rows) / pull_seconds, percentile(total.pull_ms, 0.5),
              percentile(total.pull_ms, 0.99));
  if (node) {
    const auto s = node->syncServer().stats();
    std::printf("node: %llu commits for %llu pushes (largest group %llu)\n", static_cast<unsigned long long>(s.commits),
                static_cast<unsigned long long>(s.pushes), static_cast<unsigned long long>(s.largest_group));
    node->stop();
    std::filesystem::remove_all(dir);
  }
  if (total.errors != 0) {
    std::printf("errors: %llu\n", static_cast<unsigned long long>(total.errors));
    return 1;
  }
  return 0;
}
