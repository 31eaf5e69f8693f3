// SyncServer in process: push (lastMutationID rules, failures, caps, group
// commit), pull (cookies, auth.read, pagination). The same behaviour over
// HTTP is tested against the real node in node_test.cpp.
#include <any>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "sync/codec.hpp"
#include "engine/store.hpp"
#include "sync/server.hpp"
#include "sync_test_util.hpp"
#include "test_util.hpp"
#include "todo/todo_app.hpp"

using namespace plasma;
using namespace plasma::sync;
using plasma_test::TempDir;
using plasma_sync_test::as;
using plasma_sync_test::create;
using plasma_sync_test::pullOf;
using plasma_sync_test::pushOf;

namespace {

const auto& todos = todo::todos;

Mutation call(std::string client, std::int64_t id, std::string name, boost::json::object args) {
  return Mutation{std::move(client), id, std::move(name), std::move(args), 0};
}

using Fixture = plasma_sync_test::TodoServer;

std::vector<MutationOutcome> outcomes(const PushResponse& r) {
  std::vector<MutationOutcome> out;
  for (const auto& m : r.results) out.push_back(m.outcome);
  return out;
}

// Applies a pull response to a client-side map of "table/id" -> title.
void applyPatch(std::map<std::string, std::string>& state, const PullResponse& r) {
  for (const auto& op : r.patch) {
    switch (op.op) {
      case PatchOpKind::Clear: state.clear(); break;
      case PatchOpKind::Put: state[op.table + "/" + op.id] = std::string(op.row->get(todos.title).value_or("")); break;
      case PatchOpKind::Del: state.erase(op.table + "/" + op.id); break;
    }
  }
}

}  // namespace

TEST_CASE("sync: push then pull round trip", "[sync][push][pull]") {
  Fixture fx;
  const auto r = fx.server.push(
      pushOf("g1", {create("c1", 1, "a", "milk"), create("c1", 2, "b", "eggs"), create("c2", 1, "c", "tea")}),
      as("alice"));
  CHECK(outcomes(r) == std::vector{MutationOutcome::Applied, MutationOutcome::Applied, MutationOutcome::Applied});
  CHECK(r.last_mutation_ids == std::map<std::string, std::int64_t>{{"c1", 2}, {"c2", 1}});
  CHECK(r.version == fx.db.headVersion());
  // Rows are owned by the pushing user (the mutator reads the ctx).
  CHECK(fx.db.get(todos, "a")->get(todos.owner) == std::optional<std::string_view>("alice"));

  const auto p = fx.server.pull(pullOf("g1", std::nullopt), as("alice"));
  REQUIRE(p.patch.size() == 4);
  CHECK(p.patch[0].op == PatchOpKind::Clear);
  std::map<std::string, std::string> state;
  applyPatch(state, p);
  CHECK(state == std::map<std::string, std::string>{{"todos/a", "milk"}, {"todos/b", "eggs"}, {"todos/c", "tea"}});
  CHECK(p.last_mutation_id_changes == std::map<std::string, std::int64_t>{{"c1", 2}, {"c2", 1}});
  CHECK(p.cookie == fx.db.headVersion());
  CHECK_FALSE(p.more);

  // Nothing new: same cookie, empty patch, no lastMutationID changes.
  const auto again = fx.server.pull(pullOf("g1", p.cookie), as("alice"));
  CHECK(again.cookie == p.cookie);
  CHECK(again.patch.empty());
  CHECK(again.last_mutation_id_changes.empty());

  // An update and a delete arrive as put (newest state, once) and del.
  fx.server.push(pushOf("g1", {call("c1", 3, "renameTodo", {{"id", "a"}, {"title", "oat milk"}, {"updatedAt", 3}}),
                               call("c1", 4, "renameTodo", {{"id", "a"}, {"title", "soy milk"}, {"updatedAt", 4}}),
                               call("c1", 5, "deleteTodo", {{"id", "b"}})}),
                 as("alice"));
  const auto delta = fx.server.pull(pullOf("g1", p.cookie), as("alice"));
  REQUIRE(delta.patch.size() == 2);
  CHECK(delta.patch[0].op == PatchOpKind::Put);
  CHECK(delta.patch[0].id == "a");
  CHECK(delta.patch[1].op == PatchOpKind::Del);
  CHECK(delta.patch[1].id == "b");
  CHECK(delta.last_mutation_id_changes == std::map<std::string, std::int64_t>{{"c1", 5}});
  CHECK(delta.cookie > p.cookie);
  applyPatch(state, delta);
  CHECK(state == std::map<std::string, std::string>{{"todos/a", "soy milk"}, {"todos/c", "tea"}});
  // lastMutationIDChanges lists only this group's clients.
  CHECK(fx.server.pull(pullOf("other-group", p.cookie), as("alice")).last_mutation_id_changes.empty());
}

TEST_CASE("sync: the same push sent twice applies once", "[sync][push]") {
  Fixture fx;
  const auto request = pushOf("g", {create("c", 1, "a"), create("c", 2, "b")});
  fx.server.push(request, as("u"));
  const auto head = fx.db.headVersion();
  const auto state = plasma_test::captureState(fx.db, {todos});
  const auto second = fx.server.push(request, as("u"));
  CHECK(outcomes(second) == std::vector{MutationOutcome::Skipped, MutationOutcome::Skipped});
  CHECK(second.last_mutation_ids.at("c") == 2);
  CHECK(fx.db.headVersion() == head);
  CHECK(plasma_test::captureState(fx.db, {todos}) == state);
  // A retry that overlaps with new mutations applies only the new ones.
  const auto third = fx.server.push(pushOf("g", {create("c", 2, "b"), create("c", 3, "c")}), as("u"));
  CHECK(outcomes(third) == std::vector{MutationOutcome::Skipped, MutationOutcome::Applied});
  CHECK(fx.server.lastMutationID("g", "c") == 3);
}

TEST_CASE("sync: a gap stops that client's mutations, others still apply", "[sync][push][errors]") {
  Fixture fx;
  fx.server.push(pushOf("g", {create("c1", 1, "a")}), as("u"));
  const auto r = fx.server.push(pushOf("g", {create("c1", 3, "x"), create("c2", 1, "y"), create("c1", 4, "z")}), as("u"));
  CHECK(outcomes(r) == std::vector{MutationOutcome::Rejected, MutationOutcome::Applied, MutationOutcome::Rejected});
  CHECK(r.results[0].error == "MutationIDGap");
  CHECK_THAT(r.results[0].message, Catch::Contains("expected mutation id 2, got 3"));
  CHECK(r.last_mutation_ids == std::map<std::string, std::int64_t>{{"c1", 1}, {"c2", 1}});
  CHECK_FALSE(fx.db.get(todos, "x").has_value());
  CHECK_FALSE(fx.db.get(todos, "z").has_value());
  CHECK(fx.db.get(todos, "y").has_value());
}

TEST_CASE("sync: a throwing mutator is rolled back alone and still advances lastMutationID", "[sync][push][errors]") {
  // A registry whose "twoThenFail" writes a row and then fails.
  const auto mutators = defineMutators<todo::Ctx>()
                            .define<todo::CreateTodoArgs>("createTodo",
                                                          [](const MutatorCall<todo::Ctx, todo::CreateTodoArgs>& m) {
                                                            (void)m.db.insert(todos).values(
                                                                {{todos.id, m.args.id}, {todos.title, m.args.title},
                                                                 {todos.updatedAt, m.args.updatedAt}, {todos.owner, m.ctx.userId}});
                                                          })
                            .define<todo::CreateTodoArgs>("createThenFail",
                                                          [](const MutatorCall<todo::Ctx, todo::CreateTodoArgs>& m) {
                                                            (void)m.db.insert(todos).values(
                                                                {{todos.id, m.args.id}, {todos.title, m.args.title},
                                                                 {todos.updatedAt, m.args.updatedAt}, {todos.owner, m.ctx.userId}});
                                                            throw std::runtime_error("business rule says no");
                                                          });
  TempDir dir;
  auto db = Database::open(dir.path(), todo::schema, plasma_test::fastOptions());
  db.ensureSchema();
  SyncServer server(db, runnerFor(mutators), {.schema_version = todo::kSchemaVersion});
  const auto head0 = db.headVersion();
  const auto r = server.push(
      pushOf("g", {create("c", 1, "a"), call("c", 2, "createThenFail", {{"id", "b"}, {"title", "x"}, {"updatedAt", 1}}),
                   call("c", 3, "noSuchMutator", {}), call("c", 4, "createTodo", {{"id", "d"}, {"title", 5}}),
                   create("c", 5, "e")}),
      as("u"));
  CHECK(outcomes(r) == std::vector{MutationOutcome::Applied, MutationOutcome::Failed, MutationOutcome::Failed,
                                   MutationOutcome::Failed, MutationOutcome::Applied});
  CHECK(r.results[1].error == "MutatorError");
  CHECK_THAT(r.results[1].message, Catch::Contains("business rule says no"));
  CHECK(r.results[2].error == "MutatorNotFound");
  CHECK_THAT(r.results[2].message, Catch::Contains("noSuchMutator"));
  CHECK(r.results[3].error == "MutatorArgs");
  CHECK_THAT(r.results[3].message, Catch::Contains("title"));
  CHECK(r.last_mutation_ids.at("c") == 5);
  CHECK(plasma_test::idsOf(db, todos) == std::vector<std::string>{"a", "e"});
  // The log holds the 2 rows and one confirmation for the push (lastMutationID 5).
  CHECK(db.headVersion() == head0 + 3);
  const auto log = db.logEntries(head0);
  REQUIRE(log.size() == 3);
  CHECK(log[2].op == ChangeOp::Confirm);
  CHECK(log[2].client_id == "c");
  CHECK(log[2].mutation_id == 5);
  CHECK(db.changesSince(head0).size() == 2);

  // A push whose only mutation fails still moves the cookie and reports the client.
  const auto before = server.pull(pullOf("g", std::nullopt), as("u")).cookie;
  server.push(pushOf("g", {call("c", 6, "noSuchMutator", {})}), as("u"));
  const auto p = server.pull(pullOf("g", before), as("u"));
  CHECK(p.cookie > before);
  CHECK(p.patch.empty());
  CHECK(p.last_mutation_id_changes == std::map<std::string, std::int64_t>{{"c", 6}});
}

TEST_CASE("sync: auth.write is checked on every row a mutator writes", "[sync][push][auth]") {
  Fixture fx;
  fx.server.push(pushOf("ga", {create("alice-c", 1, "a", "alice's")}), as("alice"));
  const auto r = fx.server.push(
      pushOf("gb", {call("bob-c", 1, "renameTodo", {{"id", "a"}, {"title", "hijacked"}, {"updatedAt", 1}}),
                    call("bob-c", 2, "deleteTodo", {{"id", "a"}}), create("bob-c", 3, "b", "bob's")}),
      as("bob"));
  CHECK(outcomes(r) == std::vector{MutationOutcome::Failed, MutationOutcome::Failed, MutationOutcome::Applied});
  CHECK(r.results[0].error == "Unauthorized");
  CHECK(fx.db.get(todos, "a")->get(todos.title) == std::optional<std::string_view>("alice's"));
  CHECK(fx.db.get(todos, "b")->get(todos.owner) == std::optional<std::string_view>("bob"));
}

TEST_CASE("sync: pulls are filtered by auth.read - a row that becomes unreadable is a del", "[sync][pull][auth]") {
  Fixture fx;
  fx.server.push(pushOf("ga", {create("ac", 1, "a", "private"), create("ac", 2, "s", "to share")}), as("alice"));
  auto first = fx.server.pull(pullOf("gb", std::nullopt), as("bob"));
  std::map<std::string, std::string> bob;
  applyPatch(bob, first);
  CHECK(bob.empty());

  fx.server.push(pushOf("ga", {call("ac", 3, "shareTodo", {{"id", "s"}, {"shared", true}})}), as("alice"));
  auto second = fx.server.pull(pullOf("gb", first.cookie), as("bob"));
  applyPatch(bob, second);
  CHECK(bob == std::map<std::string, std::string>{{"todos/s", "to share"}});

  fx.server.push(pushOf("ga", {call("ac", 4, "shareTodo", {{"id", "s"}, {"shared", false}})}), as("alice"));
  auto third = fx.server.pull(pullOf("gb", second.cookie), as("bob"));
  REQUIRE(third.patch.size() == 1);
  CHECK(third.patch[0].op == PatchOpKind::Del);
  CHECK(third.patch[0].id == "s");
  applyPatch(bob, third);
  CHECK(bob.empty());
  // Alice sees both all along.
  std::map<std::string, std::string> alice;
  applyPatch(alice, fx.server.pull(pullOf("ga", std::nullopt), as("alice")));
  CHECK(alice.size() == 2);
}

TEST_CASE("sync: maxMutationsPerPush defers the rest - re-sending converges", "[sync][push]") {
  Fixture fx(SyncOptions{.max_mutations_per_push = 2});
  std::vector<Mutation> all;
  for (int i = 1; i <= 5; ++i) all.push_back(create("c", i, "t" + std::to_string(i)));
  const auto r1 = fx.server.push(pushOf("g", all), as("u"));
  CHECK(outcomes(r1) == std::vector{MutationOutcome::Applied, MutationOutcome::Applied, MutationOutcome::Deferred,
                                    MutationOutcome::Deferred, MutationOutcome::Deferred});
  const auto r2 = fx.server.push(pushOf("g", all), as("u"));  // the client re-sends its whole outbox
  CHECK(outcomes(r2) == std::vector{MutationOutcome::Skipped, MutationOutcome::Skipped, MutationOutcome::Applied,
                                    MutationOutcome::Applied, MutationOutcome::Deferred});
  const auto r3 = fx.server.push(pushOf("g", all), as("u"));
  CHECK(r3.last_mutation_ids.at("c") == 5);
  CHECK(plasma_test::idsOf(fx.db, todos).size() == 5);
}

TEST_CASE("sync: unknown client state and schema versions are refused as a whole", "[sync][errors]") {
  Fixture fx;
  const auto head = fx.db.headVersion();
  try {
    fx.server.push(pushOf("g", {create("new-client", 7, "x")}), as("u"));
    FAIL("expected ClientStateNotFound");
  } catch (const SyncError& e) {
    CHECK(e.kind() == SyncErrorKind::ClientStateNotFound);
    CHECK_THAT(e.what(), Catch::Contains("new-client"));
  }
  CHECK(fx.db.headVersion() == head);
  try {
    (void)fx.server.pull(pullOf("g", 1000), as("u"));
    FAIL("expected ClientStateNotFound");
  } catch (const SyncError& e) {
    CHECK(e.kind() == SyncErrorKind::ClientStateNotFound);
  }
  auto wrong = pushOf("g", {create("c", 1, "x")});
  wrong.schema_version = "todos-v0";
  try {
    fx.server.push(wrong, as("u"));
    FAIL("expected VersionNotSupported");
  } catch (const SyncError& e) {
    CHECK(e.kind() == SyncErrorKind::VersionNotSupported);
    CHECK(e.versionType() == "schema");
    CHECK_THAT(e.what(), Catch::Contains("todos-v0") && Catch::Contains(todo::kSchemaVersion));
  }
  CHECK(fx.db.headVersion() == head);
}

TEST_CASE("sync: large pulls come in pages that end at mutation boundaries", "[sync][pull][pagination]") {
  Fixture fx(SyncOptions{.max_pull_bytes = 600});
  // Mutation k of client c creates todo c-k and then renames c-(k-1): each
  // page must show exactly the effects of mutations 1..lastMutationID.
  const int kMutations = 60;
  for (int batch = 0; batch < kMutations / 10; ++batch) {
    std::vector<Mutation> ms;
    for (int i = 1; i <= 10; ++i) {
      const int k = batch * 10 + i;
      ms.push_back(create("c", k, "c-" + std::to_string(k), "created by " + std::to_string(k)));
    }
    fx.server.push(pushOf("g", std::move(ms)), as("u"));
  }
  std::map<std::string, std::string> state;
  std::optional<std::uint64_t> cookie;
  std::int64_t confirmed = 0;
  int pages = 0;
  for (;;) {
    const auto page = fx.server.pull(pullOf("g", cookie), as("u"));
    ++pages;
    REQUIRE(pages < 200);
    if (cookie) CHECK(page.cookie >= *cookie);
    applyPatch(state, page);
    if (auto it = page.last_mutation_id_changes.find("c"); it != page.last_mutation_id_changes.end()) {
      CHECK(it->second > confirmed);
      confirmed = it->second;
    }
    // Consistency: the rows seen are exactly those of the confirmed mutations.
    CHECK(state.size() == static_cast<std::size_t>(confirmed));
    for (std::int64_t k = 1; k <= confirmed; ++k) CHECK(state.count("todos/c-" + std::to_string(k)) == 1);
    cookie = page.cookie;
    if (!page.more) break;
  }
  CHECK(pages > 3);
  CHECK(confirmed == kMutations);
  CHECK(*cookie == fx.db.headVersion());
}

// The pull keeps each row's newest entry through a hash index sized for at
// most 65,536 rows; a page with more rows grows it while it scans, and the
// rows written before the growth must still be found when they change again.
TEST_CASE("sync: a page of more rows than the row index starts with keeps each row once", "[sync][pull]") {
  Fixture fx(SyncOptions{.max_pull_bytes = std::size_t{1} << 30});
  constexpr int kRows = 70'000;
  constexpr int kRewritten = 300;
  auto idOf = [](int i) { return "row-" + std::to_string(i); };
  for (int from = 0; from < kRows; from += 10'000) {
    fx.db.write([&](Tx& tx) {
      for (int i = from; i < from + 10'000; ++i) {
        (void)tx.insert(todo::todos).values({{todo::todos.id, idOf(i)},
                                             {todo::todos.title, std::string("first")},
                                             {todo::todos.updatedAt, std::int64_t{1}},
                                             {todo::todos.owner, std::string("u")}});
      }
    });
  }
  // Rewritten after the index has grown: their first entries sit before it.
  fx.db.write([&](Tx& tx) {
    for (int i = 0; i < kRewritten; ++i) {
      (void)tx.update(todo::todos).set({{todo::todos.title, std::string("second")}}).where(eq(todo::todos.id, idOf(i)));
    }
  });
  const auto page = fx.server.pull(pullOf("g", std::nullopt), as("u"));
  CHECK_FALSE(page.more);
  CHECK(page.cookie == fx.db.headVersion());
  REQUIRE(page.patch.size() == kRows + 1);
  CHECK(page.patch[0].op == PatchOpKind::Clear);
  std::map<std::string, std::string> state;
  applyPatch(state, page);
  REQUIRE(state.size() == static_cast<std::size_t>(kRows));
  for (int i = 0; i < kRows; i += 97) {
    INFO(idOf(i));
    const auto it = state.find("todos/" + idOf(i));
    REQUIRE(it != state.end());
    CHECK(it->second == (i < kRewritten ? "second" : "first"));
  }
  for (int i = 0; i < kRewritten; ++i) CHECK(state.at("todos/" + idOf(i)) == "second");
}

TEST_CASE("sync: concurrent pushes are group-committed, each applied exactly once", "[sync][push][group]") {
  // Synced commits make each commit slow enough that pushes queue behind it.
  OpenOptions durable = plasma_test::fastOptions();
  durable.durability = Durability::Full;
  Fixture fx({}, durable);
  constexpr int kThreads = 8, kPushes = 10, kPerPush = 5;
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};  // Catch assertions are not thread-safe: count, check after
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string client = "c" + std::to_string(t);
      for (int p = 0; p < kPushes; ++p) {
        std::vector<Mutation> ms;
        for (int i = 1; i <= kPerPush; ++i) {
          const int id = p * kPerPush + i;
          ms.push_back(create(client, id, client + "-" + std::to_string(id)));
        }
        const auto r = fx.server.push(pushOf("g" + std::to_string(t), std::move(ms)), as("u"));
        if (r.last_mutation_ids.at(client) != (p + 1) * kPerPush) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong == 0);
  const auto stats = fx.server.stats();
  CHECK(stats.pushes == kThreads * kPushes);
  CHECK(stats.mutations_applied == kThreads * kPushes * kPerPush);
  CHECK(stats.largest_group > 1);
  CHECK(stats.commits < stats.pushes);
  CHECK(plasma_test::idsOf(fx.db, todos).size() == kThreads * kPushes * kPerPush);
  for (int t = 0; t < kThreads; ++t) CHECK(fx.server.lastMutationID("g" + std::to_string(t), "c" + std::to_string(t)) == 50);
}

TEST_CASE("sync: a pull from a compacted log still converges", "[sync][pull][compaction]") {
  Fixture fx;
  fx.server.push(pushOf("g", {create("c", 1, "a", "v1"), create("c", 2, "b", "v1")}), as("u"));
  const auto old_cookie = fx.server.pull(pullOf("g", std::nullopt), as("u")).cookie;
  std::map<std::string, std::string> stale;
  applyPatch(stale, fx.server.pull(pullOf("g", std::nullopt), as("u")));
  fx.server.push(pushOf("g", {call("c", 3, "renameTodo", {{"id", "a"}, {"title", "v2"}, {"updatedAt", 2}}),
                              call("c", 4, "renameTodo", {{"id", "a"}, {"title", "v3"}, {"updatedAt", 3}}),
                              call("c", 5, "deleteTodo", {{"id", "b"}}), create("c", 6, "d", "v1")}),
                 as("u"));
  const auto result = fx.db.compactChangeLog(fx.db.headVersion());
  CHECK(result.removed > 0);
  // A client from before the horizon, and a new one, both converge.
  const auto p = fx.server.pull(pullOf("g", old_cookie), as("u"));
  applyPatch(stale, p);
  CHECK(p.last_mutation_id_changes.at("c") == 6);
  std::map<std::string, std::string> fresh;
  applyPatch(fresh, fx.server.pull(pullOf("g", std::nullopt), as("u")));
  CHECK(stale == fresh);
  CHECK(fresh == std::map<std::string, std::string>{{"todos/a", "v3"}, {"todos/d", "v1"}});
}

TEST_CASE("sync: pullEncoded encodes exactly what pull returns, in both encodings", "[sync][pull]") {
  Fixture fx(SyncOptions{.max_pull_bytes = 400});
  fx.server.push(pushOf("g", {create("c", 1, "a", "x\"quoted\""), create("c", 2, "b"), create("c", 3, "e", "ünïcode")}),
                 as("u"));
  fx.server.push(pushOf("g", {call("c", 4, "deleteTodo", {{"id", "b"}}), create("c", 5, "f")}), as("u"));
  for (const auto encoding : {Encoding::Json, Encoding::FlatBuffers}) {
    std::optional<std::uint64_t> cookie;
    for (int page = 0; page < 50; ++page) {
      const auto req = pullOf("g", cookie);
      const auto owned = fx.server.pull(req, as("u"));
      CHECK(fx.server.pullEncoded(req, as("u"), encoding) == encodePullResponse(encoding, owned));
      if (!owned.more) break;
      cookie = owned.cookie;
    }
    // From a cookie in the middle too: dels appear.
    const auto req = pullOf("g", 2);
    CHECK(fx.server.pullEncoded(req, as("u"), encoding) == encodePullResponse(encoding, fx.server.pull(req, as("u"))));
  }
}

TEST_CASE("sync: with durable acks a retry is not answered before its original's commit is synced",
          "[sync][push][durable]") {
  // NoMetaSync with durable acks answers a batch once a later sync covered
  // it. A retry of a push, taken in the next batch, writes nothing but
  // reports the original's mutations as applied: it must wait for that
  // same sync, so it can never be answered first.
  TempDir dir;
  OpenOptions open = plasma_test::fastOptions();
  open.durability = Durability::NoMetaSync;
  Database db = Database::open(dir.path(), todo::schema, open);
  db.ensureSchema();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> holding;
  const MutatorRunner todo_runner = runnerFor(todo::mutators());
  // "hold" blocks the writer inside its batch until released.
  MutatorRunner runner = [&](Tx& tx, const MutatorCallInfo& c) {
    if (c.name == "hold") {
      holding.set_value();
      released.wait();
      return;
    }
    todo_runner(tx, c);
  };
  SyncOptions options;
  options.schema_version = todo::kSchemaVersion;
  options.durable_acks = true;
  options.max_pushes_per_commit = 1;  // each push its own batch
  SyncServer server(db, runner, options);

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> answered;  // in the order the callbacks ran
  auto record = [&](std::string name) {
    return [&, name](PushResponse* r, std::exception_ptr e) {
      std::lock_guard lock(mu);
      answered.push_back(name + (e ? ":error" : r->last_mutation_ids.count("c1") ? ":c1=" + std::to_string(r->last_mutation_ids.at("c1")) : ""));
      cv.notify_all();
    };
  };
  server.pushAsync(pushOf("g0", {Mutation{"c0", 1, "hold", boost::json::object{}, 0}}), as("u"), record("hold"));
  holding.get_future().wait();  // the writer is inside the first batch
  server.pushAsync(pushOf("g1", {create("c1", 1, "one")}), as("u"), record("original"));
  server.pushAsync(pushOf("g1", {create("c1", 1, "one")}), as("u"), record("retry"));
  release.set_value();
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return answered.size() == 3; }));
  }
  CHECK(answered == std::vector<std::string>{"hold", "original:c1=1", "retry:c1=1"});
  const auto stats = server.stats();
  CHECK(stats.commits == 3);
  CHECK(stats.mutations_skipped == 1);
}

TEST_CASE("sync: with Durability::Wal a pull never returns a commit whose log sync is still running",
          "[sync][pull][durable]") {
  // A Wal commit's log record is synced while LMDB writes its pages, so
  // readers can see the commit before it is durable. Pulls must not hand it
  // (or its version as a cookie) to a client until the sync is done: a
  // crash in between would take it back.
  OpenOptions open = plasma_test::fastOptions();
  open.durability = Durability::Wal;
  Fixture fx({}, open);
  fx.server.push(pushOf("g", {create("c", 1, "first")}), as("u"));
  const PullResponse before = fx.server.pull(pullOf("g", std::nullopt), as("u"));
  REQUIRE(before.cookie > 0);

  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> armed{true};
  fx.db.impl().before_log_sync_for_test = [&] {
    if (!armed.exchange(false)) return;
    entered.set_value();
    released.wait();
  };
  std::thread pusher([&] { fx.server.push(pushOf("g", {create("c", 2, "second")}), as("u")); });
  entered.get_future().wait();
  // The syncer holds; wait until LMDB's commit is visible to readers.
  bool visible = false;
  for (int i = 0; i < 2000 && !visible; ++i) {
    visible = fx.db.read([](const ReadTx& r) { return r.count(todos); }) == 2;
    if (!visible) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(visible);
  const PullResponse during = fx.server.pull(pullOf("g", before.cookie), as("u"));
  const PullResponse during_full = fx.server.pull(pullOf("g", std::nullopt), as("u"));
  release.set_value();
  pusher.join();

  CHECK(during.patch.empty());
  CHECK(during.cookie == before.cookie);
  CHECK(during.last_mutation_id_changes.empty());
  CHECK(during_full.cookie == before.cookie);
  std::map<std::string, std::string> state;
  applyPatch(state, during_full);
  CHECK(state == std::map<std::string, std::string>{{"todos/first", "t"}});
  // Once synced, the same pull returns it.
  const PullResponse after = fx.server.pull(pullOf("g", before.cookie), as("u"));
  CHECK(after.cookie > before.cookie);
  REQUIRE(after.patch.size() == 1);
  CHECK(after.patch[0].id == "second");
  CHECK(after.last_mutation_id_changes.at("c") == 2);
}
