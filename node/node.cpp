#include "node/node.hpp"

#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <limits>
#include <mutex>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "net/http_server.hpp"
#include "engine/store.hpp"
#include "sync/codec.hpp"

namespace plasma::node {

// ---- logging -----------------------------------------------------------------------

std::optional<LogLevel> parseLogLevel(std::string_view s) {
  if (s == "debug") return LogLevel::Debug;
  if (s == "info") return LogLevel::Info;
  if (s == "warn" || s == "warning") return LogLevel::Warn;
  if (s == "error") return LogLevel::Error;
  if (s == "off") return LogLevel::Off;
  return std::nullopt;
}

std::string_view logLevelName(LogLevel l) noexcept {
  switch (l) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warn";
    case LogLevel::Error: return "error";
    case LogLevel::Off: return "off";
  }
  return "info";
}

const char* durabilityName(Durability d) {
  switch (d) {
    case Durability::Wal: return "wal";
    case Durability::WalAsync: return "wal-async";
    case Durability::Full: return "full";
    case Durability::NoMetaSync: return "nometasync";
    case Durability::NoSync: return "nosync";
  }
  return "?";
}

std::optional<Durability> parseDurability(std::string_view name) {
  for (Durability d : {Durability::Wal, Durability::WalAsync, Durability::Full, Durability::NoMetaSync, Durability::NoSync}) {
    if (name == durabilityName(d)) return d;
  }
  return std::nullopt;
}

namespace {

// logfmt quoting: bare when safe, else a JSON-style quoted string.
void appendValue(std::string& out, std::string_view v) {
  const bool bare = !v.empty() && v.find_first_of(" \"=\\\n\r\t") == std::string_view::npos;
  if (bare) {
    out.append(v);
  } else {
    out.append(boost::json::serialize(boost::json::string_view(v.data(), v.size())));
  }
}

}  // namespace

void Logger::log(LogLevel l, std::string_view msg, std::initializer_list<LogField> fields) const {
  if (!enabled(l) || l == LogLevel::Off) return;
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[80];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  std::string line;
  line.reserve(96);
  line.append("ts=").append(ts).append(" level=").append(logLevelName(l)).append(" msg=");
  appendValue(line, msg);
  for (const auto& [k, v] : fields) {
    line.push_back(' ');
    line.append(k).push_back('=');
    appendValue(line, v);
  }
  line.push_back('\n');
  // One write(2) per line: lines from different threads never interleave.
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

// ---- flags ---------------------------------------------------------------------

std::pair<std::string, std::uint16_t> parseListen(std::string_view s) {
  std::string host;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      throw UsageError("--listen: expected [IPV6]:PORT, got '" + std::string(s) + "'");
    }
    host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos) throw UsageError("--listen: expected HOST:PORT, got '" + std::string(s) + "'");
    host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
  }
  if (host.empty()) throw UsageError("--listen: the host is empty in '" + std::string(s) + "'");
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || port.empty() || value > 65535) {
    throw UsageError("--listen: the port must be a number from 0 to 65535, got '" + std::string(port) + "'");
  }
  return {host, static_cast<std::uint16_t>(value)};
}

namespace {

std::uint64_t parseCount(std::string_view flag, std::string_view v, std::uint64_t min, std::uint64_t max) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n < min || n > max) {
    throw UsageError(std::string(flag) + ": expected a whole number from " + std::to_string(min) + " to " +
                     std::to_string(max) + ", got '" + std::string(v) + "'");
  }
  return n;
}

}  // namespace

std::string usage(std::string_view program) {
  std::string u;
  u += "Usage: " + std::string(program) + " [flags]\n\n";
  u += "Serves the sync protocol (push, pull) for the app over HTTP, on an embedded LMDB database.\n\n";
  u += "Flags:\n";
  u += "  --listen HOST:PORT        address to listen on (default 127.0.0.1:8787; port 0 picks a free port)\n";
  u += "  --data DIR                database directory (default ./data/node; created if missing)\n";
  u += "  --log-level LEVEL         debug | info | warn | error | off (default info); logs go to stderr\n";
  u += "  --auth-token TOKEN        require `Authorization: TOKEN` on every sync request (else 401);\n";
  u += "                            without it every request is accepted (demo mode)\n";
  u += "  --durability MODE         wal (default: every commit's writes appended to a synced log; LMDB\n";
  u += "                            synced at checkpoints) | full (LMDB's own synced commits) |\n";
  u += "                            wal-async (log synced every 100 ms: a system crash may lose the last\n";
  u += "                            0.1 s of commits) | nometasync (a system crash may roll back the last\n";
  u += "                            commits) | nosync (tests only). None of them ever corrupts the store\n";
  u += "                            except nosync\n";
  u += "  --base-path PATH          where the sync routes live (default /sync)\n";
  u += "  --threads N               I/O threads (default: one per core)\n";
  u += "  --max-payload-bytes N     largest request body (default 1048576; over it: 413)\n";
  u += "  --max-mutations-per-push N  new mutations applied per push (default 200; the rest wait)\n";
  u += "  --max-pull-bytes N        page size of pull responses, in row bytes (default 4194304)\n";
  u += "  --max-connections N       open connections before new ones get 503 (default 10000)\n";
  u += "  --request-timeout-ms N    time to receive a whole request (default 30000; then 408)\n";
  u += "  --map-size-mb N           LMDB map size: the most the database can hold (default 16384)\n";
  u += "\nRealtime (WebSocket at BASE/ws?clientGroupID=..&clientID=..[&room=..]):\n";
  u += "  --poke-token TOKEN        enables POST BASE/poke {\"room\":..} with `Authorization: TOKEN`\n";
  u += "                            (without it the endpoint answers 404)\n";
  u += "  --ws-ping-interval-ms N   ping idle sockets this often; no pong by the next ping closes them\n";
  u += "                            (default 15000)\n";
  u += "  --ws-max-message-bytes N  largest frame a client may send (default 16384; over it: close 1009)\n";
  u += "  --ws-max-messages-per-s N messages per second a socket may send (default 20; over: close 1008)\n";
  u += "  --max-presence-bytes N    largest presence userInfo, serialized (default 4096)\n";
  u += "\nOperations:\n";
  u += "  --metrics on|off          GET /metrics in Prometheus text format (default on)\n";
  u += "  --compact-interval-s N    compact the change log every N seconds (default 0: never)\n";
  u += "  --compact-interval-ms N   the same in milliseconds (tests)\n";
  u += "  --compact-margin N        versions kept below the oldest cookie of active clients (default 1000)\n";
  u += "  --compact-active-window-s N  clients that pulled within N seconds hold the horizon back\n";
  u += "                            (default 86400)\n";
  u += "  --help                    this text\n\n";
  u += "Once listening it prints `listening on http://HOST:PORT` to stdout. SIGINT/SIGTERM stop it\n";
  u += "gracefully: no new connections, in-flight requests finish, pushes commit, the database closes.\n";
  return u;
}

NodeOptions parseArgs(int argc, const char* const* argv, bool* help) {
  NodeOptions o;
  if (help) *help = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool inline_value = false;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      inline_value = true;
    }
    auto next = [&]() -> std::string_view {
      if (inline_value) return value;
      if (i + 1 >= argc) throw UsageError(std::string(arg) + ": missing value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      if (help) *help = true;
    } else if (arg == "--listen") {
      std::tie(o.host, o.port) = parseListen(next());
    } else if (arg == "--data") {
      const auto v = next();
      if (v.empty()) throw UsageError("--data: the directory is empty");
      o.data_dir = std::string(v);
    } else if (arg == "--log-level") {
      const auto v = next();
      const auto l = parseLogLevel(v);
      if (!l) throw UsageError("--log-level: expected debug, info, warn, error or off, got '" + std::string(v) + "'");
      o.log_level = *l;
    } else if (arg == "--auth-token") {
      const auto v = next();
      if (v.empty()) throw UsageError("--auth-token: the token is empty");
      o.auth_token = std::string(v);
    } else if (arg == "--durability") {
      const auto v = next();
      const std::optional<Durability> d = parseDurability(v);
      if (!d) throw UsageError(std::string("--durability: expected ") + kDurabilityChoices + ", got '" + std::string(v) + "'");
      o.durability = *d;
    } else if (arg == "--base-path") {
      const auto v = next();
      if (v.empty() || v.front() != '/') throw UsageError("--base-path: must start with '/', got '" + std::string(v) + "'");
      o.base_path = std::string(v);
    } else if (arg == "--threads") {
      o.threads = static_cast<unsigned>(parseCount(arg, next(), 1, 256));
    } else if (arg == "--max-payload-bytes") {
      o.max_payload_bytes = parseCount(arg, next(), 1024, std::uint64_t{1} << 30);
    } else if (arg == "--max-mutations-per-push") {
      o.max_mutations_per_push = parseCount(arg, next(), 1, 1'000'000);
    } else if (arg == "--max-pull-bytes") {
      o.max_pull_bytes = parseCount(arg, next(), 1, std::uint64_t{1} << 32);
    } else if (arg == "--max-connections") {
      o.max_connections = parseCount(arg, next(), 1, 1'000'000);
    } else if (arg == "--request-timeout-ms") {
      o.request_timeout = std::chrono::milliseconds(parseCount(arg, next(), 10, 3'600'000));
    } else if (arg == "--map-size-mb") {
      o.map_size_bytes = static_cast<std::size_t>(parseCount(arg, next(), 1, std::uint64_t{1} << 24)) << 20;
    } else if (arg == "--poke-token") {
      const auto v = next();
      if (v.empty()) throw UsageError("--poke-token: the token is empty");
      o.poke_token = std::string(v);
    } else if (arg == "--ws-ping-interval-ms") {
      o.ws_ping_interval = std::chrono::milliseconds(parseCount(arg, next(), 10, 3'600'000));
    } else if (arg == "--ws-max-message-bytes") {
      o.ws_max_message_bytes = parseCount(arg, next(), 256, std::uint64_t{16} << 20);
    } else if (arg == "--ws-max-messages-per-s") {
      o.ws_max_messages_per_second = static_cast<unsigned>(parseCount(arg, next(), 1, 1'000'000));
    } else if (arg == "--max-presence-bytes") {
      o.max_presence_bytes = parseCount(arg, next(), 2, std::uint64_t{16} << 20);
    } else if (arg == "--metrics") {
      const auto v = next();
      if (v == "on") {
        o.metrics = true;
      } else if (v == "off") {
        o.metrics = false;
      } else {
        throw UsageError("--metrics: expected on or off, got '" + std::string(v) + "'");
      }
    } else if (arg == "--compact-interval-s") {
      o.compact_interval = std::chrono::seconds(parseCount(arg, next(), 0, 366ull * 24 * 3600));
    } else if (arg == "--compact-interval-ms") {
      o.compact_interval = std::chrono::milliseconds(parseCount(arg, next(), 0, 366ull * 24 * 3600 * 1000));
    } else if (arg == "--compact-margin") {
      o.compact_margin = parseCount(arg, next(), 0, std::numeric_limits<std::int64_t>::max());
    } else if (arg == "--compact-active-window-s") {
      o.compact_active_window = std::chrono::seconds(parseCount(arg, next(), 1, 3650ull * 24 * 3600));
    } else {
      throw UsageError("unknown argument '" + std::string(argv[i]) + "' (see --help)");
    }
  }
  return o;
}

bool secretEquals(std::string_view a, std::string_view b) {
  if (sodium_init() < 0) return false;
  unsigned char ha[crypto_generichash_BYTES], hb[crypto_generichash_BYTES];
  crypto_generichash(ha, sizeof ha, reinterpret_cast<const unsigned char*>(a.data()), a.size(), nullptr, 0);
  crypto_generichash(hb, sizeof hb, reinterpret_cast<const unsigned char*>(b.data()), b.size(), nullptr, 0);
  return sodium_memcmp(ha, hb, sizeof ha) == 0;
}

// ---- the node ---------------------------------------------------------------------

namespace {

// The number of entries in the change log (an LMDB stat: no scan).
std::uint64_t changeLogEntries(const Database& db) {
  return db.read([&](ReadTx& r) -> std::uint64_t {
    MDB_stat st{};
    if (mdb_stat(r.state().txn.get(), db.impl().changes, &st) != 0) return 0;
    return st.ms_entries;
  });
}

std::string routeLabel(std::string_view path, std::string_view base) {
  if (path == "/healthz") return "healthz";
  if (path == "/metrics") return "metrics";
  if (path.starts_with(base)) {
    const auto rest = path.substr(base.size());
    if (rest == "/push" || rest == "/pull" || rest == "/poke" || rest == "/ws") return std::string(rest.substr(1));
  }
  return "other";
}

}  // namespace

struct Node::Impl {
  NodeOptions options;
  AppSpec app;
  Logger log;
  Metrics metrics;
  CookieTracker cookies;
  std::optional<Database> db;
  std::unique_ptr<Realtime> realtime;
  std::unique_ptr<sync::SyncServer> sync;
  std::unique_ptr<SyncHandler> handler;
  std::unique_ptr<Compactor> compactor;
  std::unique_ptr<net::Server> server;
  std::shared_ptr<void> app_state;  // what AppSpec::on_start returned
  std::string base;                 // base_path without a trailing '/'
  std::string poke_path;
  std::mutex mu;
  bool stopped = false;

  // Writer thread only (on_pushed): pushes acknowledged per commit, for the
  // group-commit histogram. Acknowledgements of one commit share its version.
  std::uint64_t ack_version = 0;
  std::size_t ack_count = 0;

  Impl(NodeOptions o, const AppSpec& a) : options(std::move(o)), app(a), log(options.log_level) {}

  void onPushed(const sync::PushRequest& req, const sync::PushResponse& resp) {
    if (resp.version != ack_version) {
      if (ack_count > 0) metrics.groupCommit(ack_count);
      ack_version = resp.version;
      ack_count = 0;
    }
    ++ack_count;
    realtime->onPushed(req, resp);
  }

  void respond(net::Responder& respond, std::string_view route, net::HttpResponse&& r) {
    if (options.metrics) metrics.request(route, r.status);  // before the answer leaves (see SyncHandler)
    respond(std::move(r));
  }

  std::vector<MetricSample> samples() const {
    const auto st = sync->stats();
    const auto rt = realtime->stats();
    const auto cs = compactor->stats();
    std::vector<MetricSample> out;
    auto add = [&](std::string name, std::string type, std::string help, double v, std::string labels = {}) {
      out.push_back(MetricSample{std::move(name), std::move(type), std::move(help), v, std::move(labels)});
    };
    add("plasma_pushes_total", "counter", "Push requests committed.", static_cast<double>(st.pushes));
    add("plasma_commits_total", "counter", "Write transactions that carried pushes (group commits).",
        static_cast<double>(st.commits));
    add("plasma_group_commit_largest", "gauge", "Most pushes in one group commit so far.",
        static_cast<double>(st.largest_group));
    add("plasma_mutations_applied_total", "counter", "Mutations run and committed.",
        static_cast<double>(st.mutations_applied));
    add("plasma_mutations_failed_total", "counter", "Mutations whose mutator threw (rolled back alone).",
        static_cast<double>(st.mutations_failed));
    add("plasma_mutations_skipped_total", "counter", "Mutations already applied (retries).",
        static_cast<double>(st.mutations_skipped));
    add("plasma_pulls_total", "counter", "Pull requests served.", static_cast<double>(st.pulls));
    add("plasma_changelog_head", "gauge", "The change log's newest row_version.",
        static_cast<double>(db->headVersion()));
    add("plasma_changelog_entries", "gauge", "Entries in the change log (rows and confirmations).",
        static_cast<double>(changeLogEntries(*db)));
    add("plasma_websockets_open", "gauge", "Open WebSockets in rooms.", static_cast<double>(rt.open_sockets));
    add("plasma_ws_rooms", "gauge", "Rooms with at least one socket.", static_cast<double>(rt.rooms));
    add("plasma_ws_view_classes", "gauge", "Distinct read-predicate sets among open sockets.",
        static_cast<double>(rt.view_classes));
    add("plasma_pokes_sent_total", "counter", "Poke messages handed to sockets.",
        static_cast<double>(rt.poke_messages));
    add("plasma_presence_sent_total", "counter", "Presence messages handed to sockets.",
        static_cast<double>(rt.presence_messages));
    for (const auto& [reason, n] : rt.closed) {
      add("plasma_ws_closed_total", "counter", "Sockets the node closed, by reason.", static_cast<double>(n),
          "reason=\"" + promLabelValue(reason) + "\"");
    }
    add("plasma_compactions_total", "counter", "Change-log compactions run.", static_cast<double>(cs.runs));
    add("plasma_compaction_removed_total", "counter", "Change-log entries removed by compaction.",
        static_cast<double>(cs.removed));
    add("plasma_compaction_horizon", "gauge", "The last compaction's horizon (row_version).",
        static_cast<double>(cs.horizon));
    add("plasma_compaction_failures_total", "counter", "Scheduled compactions that failed.",
        static_cast<double>(cs.failures));
    add("plasma_active_client_groups", "gauge", "Client groups whose pull cookies are tracked for compaction.",
        static_cast<double>(cookies.size()));
    return out;
  }

  // POST {base}/poke {"room": "..."} with `Authorization: <poke token>`.
  void poke(net::HttpRequest&& req, net::Responder& r) {
    if (!options.poke_token) {
      respond(r, "poke", jsonError(404, "NotFound", "the poke endpoint is disabled (start the node with --poke-token)"));
      return;
    }
    if (req.method != "POST") {
      respond(r, "poke", jsonError(405, "MethodNotAllowed", "poke takes POST, not " + req.method));
      return;
    }
    const std::string_view given = req.header("Authorization");
    if (given.empty() || !secretEquals(given, *options.poke_token)) {
      respond(r, "poke", jsonError(401, "Unauthorized", given.empty() ? "missing Authorization header" : "invalid poke token"));
      return;
    }
    boost::system::error_code ec;
    const boost::json::value body = boost::json::parse(req.body, ec);
    const boost::json::value* room = body.is_object() ? body.as_object().if_contains("room") : nullptr;
    if (ec || room == nullptr || !room->is_string() || room->as_string().empty() ||
        room->as_string().size() > sync::kMaxIdBytes) {
      respond(r, "poke",
              jsonError(400, "BadRequest", "poke: the body must be {\"room\": \"<non-empty string of at most 256 bytes>\"}"));
      return;
    }
    const std::string_view name(room->as_string().data(), room->as_string().size());
    const std::uint64_t version = db->headVersion();
    const std::size_t sockets = realtime->poke(name, version);
    log.debug("poke requested", {{"room", name}, {"sockets", std::to_string(sockets)}});
    net::HttpResponse out;
    out.body = boost::json::serialize(
        boost::json::object{{"ok", true}, {"room", name}, {"sockets", sockets}, {"version", version}});
    respond(r, "poke", std::move(out));
  }

  void route(net::HttpRequest&& req, net::Responder respond) {
    if (req.path == "/healthz") {
      if (req.method != "GET" && req.method != "HEAD") {
        this->respond(respond, "healthz", jsonError(405, "MethodNotAllowed", "healthz takes GET, not " + req.method));
        return;
      }
      net::HttpResponse r;
      const auto st = sync->stats();
      r.body = boost::json::serialize(boost::json::object{
          {"ok", true},
          {"head", db->headVersion()},
          {"sync", boost::json::object{{"pushes", st.pushes},
                                       {"commits", st.commits},
                                       {"largestGroup", st.largest_group},
                                       {"mutationsApplied", st.mutations_applied},
                                       {"mutationsFailed", st.mutations_failed},
                                       {"pulls", st.pulls}}},
          {"websockets", realtime->stats().open_sockets}});
      this->respond(respond, "healthz", std::move(r));
      return;
    }
    if (req.path == "/metrics" && options.metrics) {
      if (req.method != "GET" && req.method != "HEAD") {
        this->respond(respond, "metrics", jsonError(405, "MethodNotAllowed", "metrics takes GET, not " + req.method));
        return;
      }
      net::HttpResponse r;
      r.content_type = std::string(Metrics::kContentType);
      r.body = metrics.render(samples());
      this->respond(respond, "metrics", std::move(r));
      return;
    }
    if (req.path == poke_path) {
      poke(std::move(req), respond);
      return;
    }
    if (handler->handles(req.path)) {
      (*handler)(std::move(req), std::move(respond));  // counted by on_complete
      return;
    }
    const std::string label = routeLabel(req.path, base);
    this->respond(respond, label, jsonError(404, "NotFound", "no route " + req.method + " " + req.path));
  }
};

Node::Node(NodeOptions options, const AppSpec& app) : impl_(std::make_unique<Impl>(std::move(options), app)) {
  if (app.schema == nullptr || !app.runner) throw std::invalid_argument("Node: the app needs a schema and mutators");
}

Node::~Node() { stop(); }

void Node::start() {
  Impl& m = *impl_;
  const NodeOptions& o = m.options;
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  if (ec) throw std::runtime_error("cannot create the data directory " + o.data_dir.string() + ": " + ec.message());

  OpenOptions open;
  // `full`: durability for pushes comes from the sync writer, not from
  // LMDB's two syncs per commit: the database runs NoMetaSync and a push is
  // answered once a later sync has made its commit durable (one sync per
  // group commit under load; docs/node.md, "Push: group commit"). `wal`:
  // the commit itself is durable (one sync of the log's append).
  open.durability = o.durability == Durability::Full ? Durability::NoMetaSync : o.durability;
  open.map_size_bytes = o.map_size_bytes;
  m.db.emplace(Database::open(o.data_dir, *m.app.schema, open));
  const SchemaDiff diff = m.db->runMigrations();
  if (!diff.empty()) m.log.info("schema migrated", {{"changes", diff.toString()}});

  m.base = o.base_path;
  while (!m.base.empty() && m.base.back() == '/') m.base.pop_back();
  m.poke_path = m.base + "/poke";

  AuthHook auth;
  if (m.app.make_auth) auth = m.app.make_auth(o);

  // Realtime first: it observes every commit, the first push's included.
  RealtimeOptions ro;
  ro.ws_path = m.base + "/ws";
  ro.auth = auth;
  ro.max_user_info_bytes = o.max_presence_bytes;
  ro.max_messages_per_second = o.ws_max_messages_per_second;
  ro.log = &m.log;
  if (o.metrics) ro.on_fanout = [metrics = &m.metrics](std::chrono::nanoseconds d) { metrics->pokeFanout(d); };
  m.realtime = std::make_unique<Realtime>(*m.db, std::move(ro));

  sync::SyncOptions so;
  so.schema_version = m.app.schema->version();
  so.max_mutations_per_push = o.max_mutations_per_push;
  so.max_pull_bytes = o.max_pull_bytes;
  so.durable_acks = o.durability == Durability::Full;
  so.on_pushed = [impl = impl_.get()](const sync::PushRequest& req, const sync::PushResponse& resp) {
    impl->onPushed(req, resp);
  };
  m.sync = std::make_unique<sync::SyncServer>(*m.db, m.realtime->markWriter(m.app.runner), so);

  SyncHandlerOptions ho;
  ho.base_path = o.base_path;
  ho.max_payload_bytes = o.max_payload_bytes;
  ho.auth = auth;
  ho.on_error = [log = &m.log](HandlerErrorKind kind, std::string_view route, std::string_view message) {
    const LogLevel level = kind == HandlerErrorKind::Internal ? LogLevel::Error : LogLevel::Debug;
    log->log(level, "request failed", {{"route", route}, {"error", message}});
  };
  if (o.metrics) {
    ho.on_complete = [metrics = &m.metrics](std::string_view route, int status, std::chrono::nanoseconds took) {
      metrics->request(route, status);
      if (route == "push") {
        metrics->pushLatency(took);
      } else if (route == "pull") {
        metrics->pullLatency(took);
      }
    };
  }
  ho.on_pull = [impl = impl_.get()](const sync::PullRequest& p) {
    // A pull without a cookie gets everything up to (at least) the head.
    impl->cookies.seen(p.client_group_id, p.cookie ? *p.cookie : impl->db->headVersion());
  };
  m.handler = std::make_unique<SyncHandler>(*m.sync, std::move(ho));

  CompactorOptions co;
  co.interval = o.compact_interval;
  co.margin = o.compact_margin;
  co.active_window = o.compact_active_window;
  co.log = &m.log;
  m.compactor = std::make_unique<Compactor>(*m.db, m.cookies, co);

  net::ServerOptions no;
  no.host = o.host;
  no.port = o.port;
  no.threads = o.threads;
  no.max_body_bytes = o.max_payload_bytes;
  no.max_connections = o.max_connections;
  no.request_timeout = o.request_timeout;
  no.ws_ping_interval = o.ws_ping_interval;
  no.ws_max_message_bytes = o.ws_max_message_bytes;
  no.log = [log = &m.log](std::string_view line) { log->warn(line); };
  m.server = std::make_unique<net::Server>(
      no, [impl = impl_.get()](net::HttpRequest&& r, net::Responder respond) { impl->route(std::move(r), std::move(respond)); },
      m.realtime->wsHandler());
  m.server->start();
  m.log.info("node started", {{"listen", host() + ":" + std::to_string(port())},
                              {"data", o.data_dir.string()},
                              {"schema", m.app.schema->version()},
                              {"durability", durabilityName(o.durability)},
                              {"head", std::to_string(m.db->headVersion())},
                              {"io", net::usesIoUring() ? "io_uring" : "epoll"},
                              {"metrics", o.metrics ? "on" : "off"},
                              {"poke", o.poke_token ? "on" : "off"},
                              {"compact_interval_ms", std::to_string(o.compact_interval.count())}});
  if (m.app.on_start) m.app_state = m.app.on_start(*this);
}

std::string Node::host() const { return impl_->server ? impl_->server->host() : impl_->options.host; }
std::uint16_t Node::port() const { return impl_->server ? impl_->server->port() : impl_->options.port; }

void Node::stop() {
  Impl& m = *impl_;
  std::lock_guard lock(m.mu);
  if (m.stopped) return;
  m.stopped = true;
  // Order matters: the network first (in-flight pushes are answered after
  // their commit; sockets close), then the app's jobs and the compactor
  // (they may write), then the writer (drains what is queued), then the
  // realtime thread (the last acknowledgements' pokes go nowhere), then LMDB.
  if (m.server) m.server->stop(m.options.shutdown_grace);
  m.app_state.reset();
  if (m.compactor) m.compactor->stop();
  if (m.sync) m.sync->stop();
  if (m.realtime) m.realtime->stop();
  const auto stats = m.sync ? m.sync->stats() : sync::SyncStats{};
  m.server.reset();
  m.handler.reset();
  m.compactor.reset();
  m.sync.reset();
  m.realtime.reset();
  if (m.db) {
    m.log.info("node stopped", {{"head", std::to_string(m.db->headVersion())},
                                {"pushes", std::to_string(stats.pushes)},
                                {"commits", std::to_string(stats.commits)}});
  }
  m.db.reset();
}

Realtime& Node::realtime() { return *impl_->realtime; }
CompactionRun Node::compactNow() { return impl_->compactor->runOnce(); }

Database& Node::database() { return *impl_->db; }
sync::SyncServer& Node::syncServer() { return *impl_->sync; }
const NodeOptions& Node::options() const noexcept { return impl_->options; }

int runMain(int argc, const char* const* argv, const AppSpec& app) {
  NodeOptions options;
  try {
    bool help = false;
    options = parseArgs(argc, argv, &help);
    if (help) {
      std::cout << usage(app.program);
      return 0;
    }
  } catch (const UsageError& e) {
    std::cerr << app.program << ": " << e.what() << "\n\n" << usage(app.program);
    return 2;
  }
  // Block the stop signals in every thread (the I/O threads inherit the
  // mask), and wait for them here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Logger log(options.log_level);
  try {
    Node node(options, app);
    node.start();
    std::cout << "listening on http://" << node.host() << ":" << node.port() << std::endl;
    int sig = 0;
    sigwait(&stop_signals, &sig);
    log.info("shutting down", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    node.stop();
    return 0;
  } catch (const std::exception& e) {
    log.error("node failed", {{"error", e.what()}});
    std::cerr << app.program << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace plasma::node
