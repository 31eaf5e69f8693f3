// Mutators: the todo example's mutators through invokeMutator; arguments are
// validated on entry (missing or mistyped field -> MutatorArgs naming the
// mutator and field); a mutator that throws leaves no row and no change-log
// entry; clientID / mutationID land in the change log.
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "test_util.hpp"
#include "todo/todo_app.hpp"

using namespace plasma;
using plasma_test::captureState;
using plasma_test::expectError;
using plasma_test::TempDir;
using todo::todos;

namespace {

struct Fixture {
  TempDir dir;
  Database db = Database::open(dir.path(), todo::schema, plasma_test::fastOptions());
  Fixture() { db.ensureSchema(); }

  void invoke(std::string_view name, boost::json::value args, std::string client = "client-1", std::int64_t mutation = 1,
              std::string group = "group-1") {
    invokeMutator(todo::mutators(), name,
                  InvokeOptions<todo::Ctx>{.db = db,
                                           .args = std::move(args),
                                           .ctx = todo::Ctx{"user-1"},
                                           .clientID = std::move(client),
                                           .mutationID = mutation,
                                           .clientGroupID = std::move(group)});
  }
  plasma_test::DbState state() const { return captureState(db, {todos}); }
};

boost::json::value J(std::string_view text) { return boost::json::parse(text); }

}  // namespace

TEST_CASE("the todo mutators create, mark done, rename and delete todos", "[engine][mutator]") {
  Fixture fx;
  CHECK(todo::mutators().names() ==
        std::vector<std::string>{"createTodo", "deleteTodo", "markDone", "renameTodo", "shareTodo"});
  fx.invoke("createTodo", J(R"({"id":"t1","title":"buy milk","updatedAt":10})"), "c1", 1);
  fx.invoke("createTodo", J(R"({"id":"t2","title":"walk dog","updatedAt":11})"), "c1", 2);
  auto t1 = fx.db.get(todos, "t1");
  REQUIRE(t1.has_value());
  CHECK(t1->get(todos.title) == std::optional<std::string_view>("buy milk"));
  CHECK(t1->get(todos.done) == std::optional<std::int64_t>(0));
  CHECK(t1->get(todos.updatedAt) == std::optional<std::int64_t>(10));

  fx.invoke("markDone", J(R"({"id":"t1","updatedAt":20})"), "c1", 3);
  t1 = fx.db.get(todos, "t1");
  CHECK(t1->get(todos.done) == std::optional<std::int64_t>(1));
  CHECK(t1->get(todos.updatedAt) == std::optional<std::int64_t>(20));

  fx.invoke("renameTodo", J(R"({"id":"t2","title":"walk the dog","updatedAt":21})"), "c2", 1);
  CHECK(fx.db.get(todos, "t2")->get(todos.title) == std::optional<std::string_view>("walk the dog"));
  CHECK(fx.db.get(todos, "t2")->get(todos.done) == std::optional<std::int64_t>(0));

  fx.invoke("deleteTodo", J(R"({"id":"t1"})"), "c2", 2);
  CHECK_FALSE(fx.db.get(todos, "t1").has_value());
  CHECK(plasma_test::idsOf(fx.db, todos) == std::vector<std::string>{"t2"});

  // Extra fields are ignored; a JavaScript-style 3.0 is an integer.
  fx.invoke("createTodo", J(R"({"id":"t3","title":"x","updatedAt":3.0,"extra":true})"), "c2", 3);
  CHECK(fx.db.get(todos, "t3")->get(todos.updatedAt) == std::optional<std::int64_t>(3));

  // A mutator that matches no row writes nothing and logs nothing.
  const auto head = fx.db.headVersion();
  fx.invoke("markDone", J(R"({"id":"nope","updatedAt":1})"), "c2", 4);
  CHECK(fx.db.headVersion() == head);
}

TEST_CASE("clientID, clientGroupID and mutationID are recorded in the change log", "[engine][mutator][changelog]") {
  Fixture fx;
  fx.invoke("createTodo", J(R"({"id":"t1","title":"a","updatedAt":1})"), "client-A", 7, "group-X");
  fx.invoke("markDone", J(R"({"id":"t1","updatedAt":2})"), "client-B", 8, "group-Y");
  fx.invoke("deleteTodo", J(R"({"id":"t1"})"), "client-A", 9, "group-X");
  const auto log = fx.db.logEntries(0);
  REQUIRE(log.size() == 3);
  CHECK(log[0].op == ChangeOp::Put);
  CHECK(log[0].client_id == "client-A");
  CHECK(log[0].client_group_id == "group-X");
  CHECK(log[0].mutation_id == 7);
  CHECK(log[1].op == ChangeOp::Put);
  CHECK(log[1].client_id == "client-B");
  CHECK(log[1].client_group_id == "group-Y");
  CHECK(log[1].mutation_id == 8);
  REQUIRE(log[1].row.has_value());
  CHECK(log[1].row->get(todos.done) == std::optional<std::int64_t>(1));
  CHECK(log[2].op == ChangeOp::Del);
  CHECK(log[2].client_id == "client-A");
  CHECK(log[2].mutation_id == 9);
  for (const auto& e : log) {
    CHECK(e.table == "todos");
    CHECK(e.id == "t1");
  }
}

TEST_CASE("mutator arguments with a missing field are rejected naming mutator and field", "[engine][mutator][errors]") {
  Fixture fx;
  fx.invoke("createTodo", J(R"({"id":"t1","title":"a","updatedAt":1})"));
  const auto before = fx.state();
  expectError([&] { fx.invoke("createTodo", J(R"({"id":"t2","title":"b"})")); }, ErrorCode::MutatorArgs,
              {"createTodo", "updatedAt"});
  expectError([&] { fx.invoke("markDone", J(R"({"updatedAt":5})")); }, ErrorCode::MutatorArgs, {"markDone", "id"});
  expectError([&] { fx.invoke("renameTodo", J(R"({"id":"t1","updatedAt":5})")); }, ErrorCode::MutatorArgs,
              {"renameTodo", "title"});
  expectError([&] { fx.invoke("deleteTodo", J(R"({})")); }, ErrorCode::MutatorArgs, {"deleteTodo", "id"});
  // null counts as missing for a required field.
  expectError([&] { fx.invoke("deleteTodo", J(R"({"id":null})")); }, ErrorCode::MutatorArgs, {"deleteTodo", "id"});
  CHECK(fx.state() == before);
}

TEST_CASE("mutator arguments of the wrong type are rejected naming mutator and field", "[engine][mutator][errors]") {
  Fixture fx;
  fx.invoke("createTodo", J(R"({"id":"t1","title":"a","updatedAt":1})"));
  const auto before = fx.state();
  expectError([&] { fx.invoke("createTodo", J(R"({"id":"t2","title":"b","updatedAt":"soon"})")); },
              ErrorCode::MutatorArgs, {"createTodo", "updatedAt"});
  expectError([&] { fx.invoke("createTodo", J(R"({"id":"t2","title":5,"updatedAt":1})")); }, ErrorCode::MutatorArgs,
              {"createTodo", "title"});
  expectError([&] { fx.invoke("markDone", J(R"({"id":7,"updatedAt":1})")); }, ErrorCode::MutatorArgs,
              {"markDone", "id"});
  expectError([&] { fx.invoke("markDone", J(R"({"id":"t1","updatedAt":1.5})")); }, ErrorCode::MutatorArgs,
              {"markDone", "updatedAt"});
  expectError([&] { fx.invoke("renameTodo", J(R"({"id":"t1","title":["x"],"updatedAt":1})")); },
              ErrorCode::MutatorArgs, {"renameTodo", "title"});
  // Arguments that are not an object at all.
  expectError([&] { fx.invoke("deleteTodo", J(R"(["t1"])")); }, ErrorCode::MutatorArgs, {"deleteTodo"});
  expectError([&] { fx.invoke("deleteTodo", J(R"("t1")")); }, ErrorCode::MutatorArgs, {"deleteTodo"});
  CHECK(fx.state() == before);
  CHECK(fx.db.get(todos, "t1").has_value());
}

TEST_CASE("an unknown mutator is MutatorNotFound", "[engine][mutator][errors]") {
  Fixture fx;
  const auto before = fx.state();
  expectError([&] { fx.invoke("launchRocket", J(R"({})")); }, ErrorCode::MutatorNotFound, {"launchRocket"});
  CHECK_FALSE(todo::mutators().contains("launchRocket"));
  CHECK(fx.state() == before);
}

TEST_CASE("defining a mutator name twice or an empty name is an error", "[engine][mutator][errors]") {
  auto m = defineMutators<todo::Ctx>();
  m.define<todo::DeleteTodoArgs>("deleteTodo", [](const MutatorCall<todo::Ctx, todo::DeleteTodoArgs>&) {});
  expectError([&] {
    m.define<todo::DeleteTodoArgs>("deleteTodo", [](const MutatorCall<todo::Ctx, todo::DeleteTodoArgs>&) {});
  }, ErrorCode::InvalidArgument, {"deleteTodo"});
  expectError([&] {
    m.define<todo::DeleteTodoArgs>("", [](const MutatorCall<todo::Ctx, todo::DeleteTodoArgs>&) {});
  }, ErrorCode::InvalidArgument);
  CHECK(m.names() == std::vector<std::string>{"deleteTodo"});
}

namespace {

struct NoteArgs {
  std::string id;
  std::string title;
};
BOOST_DESCRIBE_STRUCT(NoteArgs, (), (id, title))

struct SeenCall {
  std::string client;
  std::int64_t mutation = 0;
  std::string user;
};

Mutators<todo::Ctx> testMutators(SeenCall* seen) {
  return defineMutators<todo::Ctx>()
      .define<NoteArgs>("insertThenThrow",
                        [](const MutatorCall<todo::Ctx, NoteArgs>& m) {
                          (void)m.db.insert(todos).values(
                              {{todos.id, m.args.id}, {todos.title, m.args.title}, {todos.updatedAt, 1}});
                          CHECK(m.db.get(todos, m.args.id).has_value());  // visible to the mutator itself
                          throw std::runtime_error("mutator failed after writing");
                        })
      .define<NoteArgs>("twoThenConstraint",
                        [](const MutatorCall<todo::Ctx, NoteArgs>& m) {
                          (void)m.db.update(todos).set({{todos.title, m.args.title}}).all();
                          (void)m.db.insert(todos).values(
                              {{todos.id, m.args.id + "-a"}, {todos.title, "a"}, {todos.updatedAt, 1}});
                          // Duplicate id: a constraint error after two successful statements.
                          (void)m.db.insert(todos).values(
                              {{todos.id, m.args.id + "-a"}, {todos.title, "b"}, {todos.updatedAt, 1}});
                        })
      .define<NoteArgs>("record", [seen](const MutatorCall<todo::Ctx, NoteArgs>& m) {
        seen->client = std::string(m.clientID);
        seen->mutation = m.mutationID;
        seen->user = m.ctx.userId;
        (void)m.db.insert(todos).values({{todos.id, m.args.id}, {todos.title, m.args.title}, {todos.updatedAt, 1}});
      });
}

}  // namespace

TEST_CASE("a mutator that throws after writing leaves no row and no change-log entry", "[engine][mutator][errors]") {
  Fixture fx;
  fx.invoke("createTodo", J(R"({"id":"t1","title":"keep","updatedAt":1})"));
  const auto before = fx.state();
  const auto mutators = testMutators(nullptr);
  auto run = [&](std::string_view name, std::string_view args) {
    invokeMutator(mutators, name,
                  InvokeOptions<todo::Ctx>{.db = fx.db, .args = J(args), .ctx = {}, .clientID = "c", .mutationID = 5});
  };
  CHECK_THROWS_WITH(run("insertThenThrow", R"({"id":"ghost","title":"x"})"),
                    Catch::Contains("mutator failed after writing"));
  CHECK_FALSE(fx.db.get(todos, "ghost").has_value());
  CHECK(fx.state() == before);
  CHECK(fx.db.logEntries(before.head).empty());

  expectError([&] { run("twoThenConstraint", R"({"id":"z","title":"renamed"})"); }, ErrorCode::PrimaryKey, {"z-a"});
  CHECK(fx.state() == before);
  CHECK(fx.db.get(todos, "t1")->get(todos.title) == std::optional<std::string_view>("keep"));
}

TEST_CASE("a mutator receives its arguments, context, clientID and mutationID", "[engine][mutator]") {
  Fixture fx;
  SeenCall seen;
  const auto mutators = testMutators(&seen);
  invokeMutator(mutators, "record",
                InvokeOptions<todo::Ctx>{.db = fx.db,
                                         .args = J(R"({"id":"r1","title":"recorded"})"),
                                         .ctx = todo::Ctx{"alice"},
                                         .clientID = "client-9",
                                         .mutationID = 42,
                                         .clientGroupID = "g"});
  CHECK(seen.client == "client-9");
  CHECK(seen.mutation == 42);
  CHECK(seen.user == "alice");
  CHECK(fx.db.get(todos, "r1")->get(todos.title) == std::optional<std::string_view>("recorded"));
  const auto log = fx.db.logEntries(0);
  REQUIRE(log.size() == 1);
  CHECK(log[0].client_id == "client-9");
  CHECK(log[0].mutation_id == 42);
}

TEST_CASE("several mutators run in one caller transaction commit or roll back together", "[engine][mutator]") {
  Fixture fx;
  const todo::Ctx ctx{"u"};
  fx.db.write([&](Tx& tx) {
    const auto a = J(R"({"id":"m1","title":"one","updatedAt":1})");
    const auto b = J(R"({"id":"m1","updatedAt":2})");
    todo::mutators().run("createTodo", MutatorInvocation<todo::Ctx>{tx, a, ctx, "c", 1});
    todo::mutators().run("markDone", MutatorInvocation<todo::Ctx>{tx, b, ctx, "c", 2});
  }, WriteContext{"g", "c", 2});
  CHECK(fx.db.get(todos, "m1")->get(todos.done) == std::optional<std::int64_t>(1));
  CHECK(fx.db.logEntries(0).size() == 2);

  const auto before = fx.state();
  expectError([&] {
    fx.db.write([&](Tx& tx) {
      const auto a = J(R"({"id":"m2","title":"two","updatedAt":1})");
      const auto bad = J(R"({"id":"m2"})");
      todo::mutators().run("createTodo", MutatorInvocation<todo::Ctx>{tx, a, ctx, "c", 3});
      todo::mutators().run("markDone", MutatorInvocation<todo::Ctx>{tx, bad, ctx, "c", 4});
    });
  }, ErrorCode::MutatorArgs, {"markDone", "updatedAt"});
  CHECK(fx.state() == before);
}

namespace {
struct Inner {
  std::int32_t qty = 0;
  std::optional<std::string> note;
};
BOOST_DESCRIBE_STRUCT(Inner, (), (qty, note))
struct Outer {
  std::string name;
  std::vector<Inner> items;
  std::optional<bool> flag;
};
BOOST_DESCRIBE_STRUCT(Outer, (), (name, items, flag))
}  // namespace

TEST_CASE("argsFromJson reads nested arguments and names the failing path", "[engine][mutator][args]") {
  const auto ok = argsFromJson<Outer>(J(R"({"name":"n","items":[{"qty":1},{"qty":2,"note":"x"}]})"), "m");
  CHECK(ok.name == "n");
  REQUIRE(ok.items.size() == 2);
  CHECK(ok.items[1].qty == 2);
  CHECK(ok.items[1].note == std::optional<std::string>("x"));
  CHECK_FALSE(ok.items[0].note.has_value());
  CHECK_FALSE(ok.flag.has_value());
  // Round trip through argsToJson.
  const auto back = argsFromJson<Outer>(argsToJson(ok), "m");
  CHECK(back.items[1].note == ok.items[1].note);
  CHECK(argsToJson(ok).contains("flag") == false);

  expectError([] { (void)argsFromJson<Outer>(J(R"({"name":"n","items":[{"qty":1},{"qty":"2"}]})"), "bulk"); },
              ErrorCode::MutatorArgs, {"bulk", "items[1].qty"});
  expectError([] { (void)argsFromJson<Outer>(J(R"({"name":"n","items":[{"qty":3000000000}]})"), "bulk"); },
              ErrorCode::MutatorArgs, {"bulk", "items[0].qty"});
  expectError([] { (void)argsFromJson<Outer>(J(R"({"name":"n","items":{}})"), "bulk"); }, ErrorCode::MutatorArgs,
              {"bulk", "items"});
  expectError([] { (void)argsFromJson<Outer>(J(R"({"name":"n","items":[],"flag":"yes"})"), "bulk"); },
              ErrorCode::MutatorArgs, {"bulk", "flag"});
}
