// Joins: inner and left (NULL-filled rows), several in one query, each join
// method the planner has (primary key, index, hash table, nested loop),
// ON conditions beyond the key, where clauses over joined tables, select()
// of every column with qualified names, and aggregation over a join.
#include <string>
#include <vector>

#include "query/query_test_util.hpp"

using namespace plasma;
using plasma_test::TempDir;
using qtest::accessLine;
using qtest::contains;
using qtest::texts;

namespace {

struct Users : Table {
  Users() : Table("users") {}
  TextColumn id{this, plasma::id()};
  TextColumn name{this, text("name")};
  IntColumn age{this, integer("age").nullable()};
};
const Users users;

struct Lists : Table {
  Lists() : Table("lists") { index("by_owner", {owner}); }
  TextColumn id{this, plasma::id()};
  TextColumn name{this, text("name")};
  TextColumn owner{this, text("owner").nullable()};
  IntColumn rank{this, integer("rank").nullable()};
};
const Lists lists;

struct Todos : Table {
  Todos() : Table("todos") { index("by_list", {listId}); }
  TextColumn id{this, plasma::id()};
  TextColumn listId{this, text("listId").nullable()};
  TextColumn title{this, text("title")};
  IntColumn done{this, integer("done").defaultTo(0)};
  IntColumn priority{this, integer("priority").nullable()};
  TextColumn assignee{this, text("assignee").nullable()};  // not indexed
};
const Todos todos;

struct Tags : Table {
  Tags() : Table("tags") {}
  TextColumn id{this, plasma::id()};
  TextColumn todoId{this, text("todoId").nullable()};  // not indexed
  TextColumn label{this, text("label")};
};
const Tags tags;

const Schema schema = defineSchema("join-v1", {users, lists, todos, tags});

struct Fixture {
  TempDir dir;
  Database db = Database::open(dir.path(), schema, plasma_test::fastOptions());
  Fixture() {
    db.ensureSchema();
    db.write([&](Tx& tx) {
      auto user = [&](const char* id, const char* name, Value age) {
        (void)tx.insert(users).values({{users.id, id}, {users.name, name}, Assignment(AnyColumn(users.age), std::move(age))});
      };
      user("u1", "ann", 30);
      user("u2", "bob", 20);
      user("u3", "cy", Value());
      auto list = [&](const char* id, const char* name, Value owner, Value rank) {
        (void)tx.insert(lists).values({{lists.id, id}, {lists.name, name}, Assignment(AnyColumn(lists.owner), std::move(owner)),
                                       Assignment(AnyColumn(lists.rank), std::move(rank))});
      };
      list("l1", "home", "u1", 1);
      list("l2", "work", "u2", 2);
      list("l3", "empty", "u1", Value());
      list("l4", "orphan", Value(), 3);
      auto todo = [&](const char* id, Value listId, const char* title, int done, Value priority, Value assignee) {
        (void)tx.insert(todos).values({{todos.id, id}, Assignment(AnyColumn(todos.listId), std::move(listId)),
                                       {todos.title, title}, {todos.done, done},
                                       Assignment(AnyColumn(todos.priority), std::move(priority)),
                                       Assignment(AnyColumn(todos.assignee), std::move(assignee))});
      };
      todo("t1", "l1", "milk", 0, 1, "u1");
      todo("t2", "l1", "bread", 1, 3, "u2");
      todo("t3", "l2", "report", 0, 2, Value());
      todo("t4", Value(), "loose", 0, Value(), "u3");
      todo("t5", "l9", "dangling", 0, 5, "u1");  // no such list
      todo("t6", "l2", "email", 1, 1, "u2");
      auto tag = [&](const char* id, Value todoId, const char* label) {
        (void)tx.insert(tags).values({{tags.id, id}, Assignment(AnyColumn(tags.todoId), std::move(todoId)), {tags.label, label}});
      };
      tag("g1", "t1", "urgent");
      tag("g2", "t1", "food");
      tag("g3", "t3", "work");
      tag("g4", Value(), "none");
    });
  }
};

using S = std::vector<std::string>;
const std::string N = qtest::kNull;

// "a|b" per row, for the named outputs.
S pairs(const QueryResult& r, std::string_view a, std::string_view b) {
  S out;
  for (const auto& row : r.rows) out.push_back(qtest::textOf(row[a]) + "|" + qtest::textOf(row[b]));
  return out;
}

}  // namespace

TEST_CASE("join on the primary key: inner drops unmatched rows, left NULL-fills them", "[query][join]") {
  Fixture fx;
  auto q = [&] { return fx.db.select({{"todo", todos.id}, {"list", lists.name}, {"owner", lists.owner}}).from(todos); };
  const auto inner = q().innerJoin(lists, eq(todos.listId, lists.id)).orderBy(asc(todos.id));
  INFO(inner.explain());
  CHECK(contains(inner.explain(), "INNER JOIN lists USING PRIMARY KEY (id = todos.listId)"));
  CHECK(pairs(inner.all(), "todo", "list") == S{"t1|home", "t2|home", "t3|work", "t6|work"});

  const auto left = q().leftJoin(lists, eq(todos.listId, lists.id)).orderBy(asc(todos.id));
  INFO(left.explain());
  CHECK(contains(left.explain(), "LEFT JOIN lists USING PRIMARY KEY (id = todos.listId)"));
  const QueryResult lr = left.all();
  // t4 has no list id, t5 points at a missing list: both NULL-filled.
  CHECK(pairs(lr, "todo", "list") == S{"t1|home", "t2|home", "t3|work", "t4|" + N, "t5|" + N, "t6|work"});
  CHECK(texts(lr, "owner") == S{"u1", "u1", "u2", N, N, "u2"});

  // The key written the other way round is planned the same.
  const auto reversed = q().innerJoin(lists, eq(lists.id, todos.listId));
  CHECK(contains(reversed.explain(), "INNER JOIN lists USING PRIMARY KEY (id = todos.listId)"));
  CHECK(reversed.all().size() == 4);
}

TEST_CASE("join on an indexed column uses the index", "[query][join]") {
  Fixture fx;
  auto q = [&] { return fx.db.select({{"list", lists.name}, {"todo", todos.title}}).from(lists); };
  const auto inner = q().innerJoin(todos, eq(todos.listId, lists.id)).orderBy(asc(lists.id), asc(todos.id));
  INFO(inner.explain());
  CHECK(contains(inner.explain(), "INNER JOIN todos USING INDEX by_list (listId = lists.id)"));
  CHECK(pairs(inner.all(), "list", "todo") == S{"home|milk", "home|bread", "work|report", "work|email"});

  const auto left = q().leftJoin(todos, eq(todos.listId, lists.id)).orderBy(asc(lists.id), asc(todos.id));
  INFO(left.explain());
  CHECK(contains(left.explain(), "LEFT JOIN todos USING INDEX by_list (listId = lists.id)"));
  CHECK(pairs(left.all(), "list", "todo") ==
        S{"home|milk", "home|bread", "work|report", "work|email", "empty|" + N, "orphan|" + N});
  // Joining users on the indexed lists.owner.
  const auto owners = fx.db.select({{"user", users.name}, {"list", lists.name}})
                          .from(users)
                          .leftJoin(lists, eq(lists.owner, users.id))
                          .orderBy(asc(users.id), asc(lists.id));
  INFO(owners.explain());
  CHECK(contains(owners.explain(), "LEFT JOIN lists USING INDEX by_owner (owner = users.id)"));
  CHECK(pairs(owners.all(), "user", "list") == S{"ann|home", "ann|empty", "bob|work", "cy|" + N});
}

TEST_CASE("join on an unindexed column builds a hash table", "[query][join]") {
  Fixture fx;
  const auto inner = fx.db.select({{"user", users.id}, {"todo", todos.id}})
                         .from(users)
                         .innerJoin(todos, eq(todos.assignee, users.id))
                         .orderBy(asc(users.id), asc(todos.id));
  INFO(inner.explain());
  CHECK(contains(inner.explain(), "INNER JOIN todos USING HASH TABLE (assignee = users.id)"));
  CHECK(pairs(inner.all(), "user", "todo") == S{"u1|t1", "u1|t5", "u2|t2", "u2|t6", "u3|t4"});

  // A NULL outer key never matches (l4 has no owner; t3 no assignee).
  const auto left = fx.db.select({{"list", lists.id}, {"todo", todos.id}})
                        .from(lists)
                        .leftJoin(todos, eq(todos.assignee, lists.owner))
                        .orderBy(asc(lists.id), asc(todos.id));
  INFO(left.explain());
  CHECK(contains(left.explain(), "LEFT JOIN todos USING HASH TABLE (assignee = lists.owner)"));
  CHECK(pairs(left.all(), "list", "todo") == S{"l1|t1", "l1|t5", "l2|t2", "l2|t6", "l3|t1", "l3|t5", "l4|" + N});
  // The tags table has no index at all: hash join on todoId.
  const auto tagged = fx.db.select({{"todo", todos.id}, {"tag", tags.label}})
                          .from(todos)
                          .innerJoin(tags, eq(tags.todoId, todos.id))
                          .orderBy(asc(todos.id), asc(tags.label));
  CHECK(contains(tagged.explain(), "INNER JOIN tags USING HASH TABLE (todoId = todos.id)"));
  CHECK(pairs(tagged.all(), "todo", "tag") == S{"t1|food", "t1|urgent", "t3|work"});
}

TEST_CASE("a non-equi join runs as a nested loop", "[query][join]") {
  Fixture fx;
  auto q = [&] { return fx.db.select({{"list", lists.id}, {"todo", todos.id}}).from(lists); };
  const auto inner = q().innerJoin(todos, gt(todos.priority, lists.rank)).orderBy(asc(lists.id), asc(todos.id));
  INFO(inner.explain());
  CHECK(contains(inner.explain(), "INNER JOIN todos NESTED LOOP ON todos.priority > lists.rank"));
  CHECK(pairs(inner.all(), "list", "todo") == S{"l1|t2", "l1|t3", "l1|t5", "l2|t2", "l2|t5", "l4|t5"});
  const auto left = q().leftJoin(todos, gt(todos.priority, lists.rank)).orderBy(asc(lists.id), asc(todos.id));
  INFO(left.explain());
  CHECK(contains(left.explain(), "LEFT JOIN todos NESTED LOOP ON todos.priority > lists.rank"));
  CHECK(pairs(left.all(), "list", "todo") == S{"l1|t2", "l1|t3", "l1|t5", "l2|t2", "l2|t5", "l3|" + N, "l4|t5"});
  // ne() is not an equi-join either.
  const auto others = fx.db.select({{"u", users.id}, {"o", lists.id}})
                          .from(users)
                          .innerJoin(lists, ne(lists.owner, users.id))
                          .orderBy(asc(users.id), asc(lists.id));
  CHECK(contains(others.explain(), "NESTED LOOP"));
  CHECK(pairs(others.all(), "u", "o") == S{"u1|l2", "u2|l1", "u2|l3", "u3|l1", "u3|l2", "u3|l3"});
}

TEST_CASE("several joins in one query", "[query][join]") {
  Fixture fx;
  const auto q = fx.db.select({{"todo", todos.id}, {"list", lists.name}, {"owner", users.name}, {"tag", tags.label}})
                     .from(todos)
                     .innerJoin(lists, eq(todos.listId, lists.id))
                     .leftJoin(users, eq(lists.owner, users.id))
                     .leftJoin(tags, eq(tags.todoId, todos.id))
                     .orderBy(asc(todos.id), asc(tags.label));
  const std::string plan = q.explain();
  INFO(plan);
  const auto l = qtest::lines(plan);
  REQUIRE(l.size() >= 4);
  CHECK(l[0] == "SCAN todos");
  CHECK(l[1] == "INNER JOIN lists USING PRIMARY KEY (id = todos.listId)");
  CHECK(l[2] == "LEFT JOIN users USING PRIMARY KEY (id = lists.owner)");
  CHECK(l[3] == "LEFT JOIN tags USING HASH TABLE (todoId = todos.id)");
  const QueryResult r = q.all();
  INFO(qtest::render(r));
  CHECK(texts(r, "todo") == S{"t1", "t1", "t2", "t3", "t6"});
  CHECK(texts(r, "list") == S{"home", "home", "home", "work", "work"});
  CHECK(texts(r, "owner") == S{"ann", "ann", "ann", "bob", "bob"});
  CHECK(texts(r, "tag") == S{"food", "urgent", N, "work", N});

  // A chain where a later join keys on an earlier joined table's column.
  const auto chain = fx.db.select({{"user", users.name}, {"list", lists.name}, {"todo", todos.title}})
                         .from(users)
                         .innerJoin(lists, eq(lists.owner, users.id))
                         .innerJoin(todos, eq(todos.listId, lists.id))
                         .where(eq(todos.done, 0))
                         .orderBy(asc(todos.id));
  INFO(chain.explain());
  CHECK(contains(chain.explain(), "INNER JOIN lists USING INDEX by_owner (owner = users.id)"));
  CHECK(contains(chain.explain(), "INNER JOIN todos USING INDEX by_list (listId = lists.id)"));
  const QueryResult c = chain.all();
  CHECK(texts(c, "todo") == S{"milk", "report"});
  CHECK(texts(c, "user") == S{"ann", "bob"});
}

TEST_CASE("left join: ON conditions pick matches, WHERE filters rows", "[query][join]") {
  Fixture fx;
  auto q = [&] { return fx.db.select({{"list", lists.id}, {"todo", todos.id}}).from(lists); };
  // An extra ON condition: lists whose todos are all done still appear, NULL-filled.
  const auto on = q().leftJoin(todos, and_(eq(todos.listId, lists.id), eq(todos.done, 0))).orderBy(asc(lists.id));
  INFO(on.explain());
  CHECK(contains(on.explain(), "LEFT JOIN todos USING INDEX by_list (listId = lists.id)"));
  CHECK(pairs(on.all(), "list", "todo") == S{"l1|t1", "l2|t3", "l3|" + N, "l4|" + N});
  // The same condition in WHERE drops the NULL-filled rows (done is NULL there).
  const auto where = q().leftJoin(todos, eq(todos.listId, lists.id)).where(eq(todos.done, 0)).orderBy(asc(lists.id));
  CHECK(pairs(where.all(), "list", "todo") == S{"l1|t1", "l2|t3"});
  // Anti-join: lists with no todos.
  const auto none = q().leftJoin(todos, eq(todos.listId, lists.id)).where(isNull(todos.id)).orderBy(asc(lists.id));
  CHECK(pairs(none.all(), "list", "todo") == S{"l3|" + N, "l4|" + N});
  // Conditions on both tables: the from-table part filters as it is read, the rest after the join.
  const auto both = fx.db.select({{"todo", todos.id}})
                        .from(todos)
                        .innerJoin(lists, eq(todos.listId, lists.id))
                        .where(and_(eq(lists.owner, "u1"), eq(todos.done, 0)));
  const std::string plan = both.explain();
  INFO(plan);
  CHECK(contains(plan, "  FILTER todos.done = 0"));
  CHECK(contains(plan, "\nFILTER lists.owner = 'u1'"));
  CHECK(texts(both.all(), "todo") == S{"t1"});
  // A where clause over the joined table only, with or_ across both.
  const auto mixed = fx.db.select({{"todo", todos.id}})
                         .from(todos)
                         .leftJoin(lists, eq(todos.listId, lists.id))
                         .where(or_(eq(lists.name, "work"), isNull(todos.listId)))
                         .orderBy(asc(todos.id));
  CHECK(texts(mixed.all(), "todo") == S{"t3", "t4", "t6"});
}

TEST_CASE("select() over joins returns every column, qualified by table", "[query][join][projection]") {
  Fixture fx;
  const QueryResult r =
      fx.db.select().from(todos).leftJoin(lists, eq(todos.listId, lists.id)).orderBy(asc(todos.id)).all();
  INFO(qtest::render(r));
  CHECK(qtest::columnNames(r) == S{"todos.id", "todos.listId", "todos.title", "todos.done", "todos.priority",
                                   "todos.assignee", "lists.id", "lists.name", "lists.owner", "lists.rank"});
  REQUIRE(r.size() == 6);
  CHECK(r.rows[0]["todos.id"] == Value("t1"));
  CHECK(r.rows[0]["lists.name"] == Value("home"));
  CHECK(r.rows[0]["lists.rank"] == Value(1));
  // Typed reads by handle pick the right table's `id`.
  CHECK(r.rows[0].get(todos.id) == std::optional<std::string_view>("t1"));
  CHECK(r.rows[0].get(lists.id) == std::optional<std::string_view>("l1"));
  CHECK(r.rows[2].get(lists.owner) == std::optional<std::string_view>("u2"));
  // The NULL-filled side of t4.
  CHECK(r.rows[3]["todos.id"] == Value("t4"));
  for (const char* c : {"lists.id", "lists.name", "lists.owner", "lists.rank"}) {
    INFO(c);
    CHECK(r.rows[3][c].isNull());
  }
  CHECK_FALSE(r.rows[3].get(lists.id).has_value());
  // Unqualified names are not outputs of a join.
  plasma_test::expectError([&] { (void)r.rows[0]["id"]; }, ErrorCode::UnknownColumn, {"id"});
  // rows() is for one table only.
  plasma_test::expectError([&] { (void)fx.db.select().from(todos).innerJoin(lists, eq(todos.listId, lists.id)).rows(); },
                           ErrorCode::InvalidArgument, {"rows()"});
}

TEST_CASE("aggregation, ordering and paging over joins", "[query][join][aggregate]") {
  Fixture fx;
  const QueryResult r = fx.db.select({{"list", lists.name}, {"n", count(todos.id)}, {"rows", count()}, {"p", sum(todos.priority)}})
                            .from(lists)
                            .leftJoin(todos, eq(todos.listId, lists.id))
                            .groupBy(lists.name)
                            .orderBy(asc(lists.name))
                            .all();
  INFO(qtest::render(r));
  CHECK(texts(r, "list") == S{"empty", "home", "orphan", "work"});
  CHECK(qtest::values(r, "n") == std::vector<Value>{Value(0), Value(2), Value(0), Value(2)});
  CHECK(qtest::values(r, "rows") == std::vector<Value>{Value(1), Value(2), Value(1), Value(2)});
  CHECK(qtest::values(r, "p") == std::vector<Value>{Value(), Value(4), Value(), Value(3)});
  // Order by a joined column with a limit: sorted, never read off an index.
  const auto paged = fx.db.select({{"todo", todos.id}, {"list", lists.name}})
                         .from(todos)
                         .innerJoin(lists, eq(todos.listId, lists.id))
                         .orderBy(desc(lists.name), asc(todos.id))
                         .limit(3);
  INFO(paged.explain());
  CHECK(contains(paged.explain(), "SORT BY lists.name DESC, todos.id"));
  CHECK(pairs(paged.all(), "todo", "list") == S{"t3|work", "t6|work", "t1|home"});
  // Order by the from table's indexed column with a join: results still sorted.
  const auto by_list = fx.db.select({{"todo", todos.id}})
                           .from(todos)
                           .leftJoin(lists, eq(todos.listId, lists.id))
                           .orderBy(desc(todos.listId), desc(todos.id))
                           .limit(4);
  INFO(by_list.explain());
  CHECK_FALSE(contains(by_list.explain(), "from the access path"));
  CHECK(texts(by_list.all(), "todo") == S{"t5", "t6", "t3", "t2"});
}
