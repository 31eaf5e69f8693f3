// Auth-bound handles: createServerDb(db, ctx) applies each table's
// auth.read predicate (built from the ctx) to every query through it — the
// from table, inner joins (rows filtered), left joins (an unreadable joined
// row counts as no match: NULL-filled), subqueries, aggregates, prepared
// queries. The plain database handle sees everything.
#include <any>
#include <string>
#include <vector>

#include "query/query_test_util.hpp"

using namespace plasma;
using plasma_test::expectError;
using plasma_test::TempDir;
using qtest::contains;
using qtest::texts;

namespace {

struct Ctx {
  std::string userId;
};

const std::string& userOf(const std::any& ctx) { return std::any_cast<const Ctx&>(ctx).userId; }

struct Folders : Table {
  Folders()
      : Table("folders", TableOptions{.auth = {.read = [this](const std::any& ctx) -> Expr { return eq(owner, userOf(ctx)); }}}) {}
  TextColumn id{this, plasma::id()};
  TextColumn name{this, text("name")};
  TextColumn owner{this, text("owner")};
};
const Folders folders;

struct Docs : Table {
  Docs() : Table("docs", TableOptions{.auth = {.read = [this](const std::any& ctx) -> Expr { return eq(owner, userOf(ctx)); }}}) {
    index("by_folder", {folderId});
    index("by_owner", {owner});
  }
  TextColumn id{this, plasma::id()};
  TextColumn folderId{this, text("folderId").nullable()};
  TextColumn title{this, text("title")};
  TextColumn owner{this, text("owner")};
  TextColumn topicId{this, text("topicId").nullable()};  // not indexed
};
const Docs docs;

struct Topics : Table {  // no auth: public
  Topics() : Table("topics") {}
  TextColumn id{this, plasma::id()};
  TextColumn name{this, text("name")};
};
const Topics topics;

// A misconfigured table: its read predicate names another table's column.
struct Broken : Table {
  Broken() : Table("broken", TableOptions{.auth = {.read = [](const std::any& ctx) -> Expr { return eq(docs.owner, userOf(ctx)); }}}) {}
  TextColumn id{this, plasma::id()};
};
const Broken broken;

const Schema schema = defineSchema("auth-v1", {folders, docs, topics, broken});

struct Fixture {
  TempDir dir;
  Database db = Database::open(dir.path(), schema, plasma_test::fastOptions());
  ServerDb u1 = createServerDb(db, std::any(Ctx{"u1"}));
  ServerDb u2 = createServerDb(db, std::any(Ctx{"u2"}));
  ServerDb nobody = createServerDb(db, std::any(Ctx{"u9"}));
  Fixture() {
    db.ensureSchema();
    db.write([&](Tx& tx) {
      auto folder = [&](const char* id, const char* name, const char* owner) {
        (void)tx.insert(folders).values({{folders.id, id}, {folders.name, name}, {folders.owner, owner}});
      };
      folder("f1", "mine", "u1");
      folder("f2", "theirs", "u2");
      folder("f3", "also mine", "u1");
      auto doc = [&](const char* id, Value folder_id, const char* title, const char* owner, Value topic) {
        (void)tx.insert(docs).values({{docs.id, id}, Assignment(AnyColumn(docs.folderId), std::move(folder_id)),
                                      {docs.title, title}, {docs.owner, owner},
                                      Assignment(AnyColumn(docs.topicId), std::move(topic))});
      };
      doc("d1", "f1", "a", "u1", "p1");
      doc("d2", "f1", "b", "u2", "p1");  // someone else's doc in u1's folder
      doc("d3", "f2", "c", "u2", "p2");
      doc("d4", "f3", "d", "u1", Value());
      doc("d5", Value(), "e", "u1", "p2");
      doc("d6", "f2", "f", "u1", "p1");  // u1's doc in someone else's folder
      (void)tx.insert(topics).values({{topics.id, "p1"}, {topics.name, "news"}});
      (void)tx.insert(topics).values({{topics.id, "p2"}, {topics.name, "tech"}});
      (void)tx.insert(broken).values({{broken.id, "x"}});
    });
  }
};

using S = std::vector<std::string>;
const std::string N = qtest::kNull;

S pairs(const QueryResult& r, std::string_view a, std::string_view b) {
  S out;
  for (const auto& row : r.rows) out.push_back(qtest::textOf(row[a]) + "|" + qtest::textOf(row[b]));
  return out;
}

}  // namespace

TEST_CASE("auth: a bound handle reads only the rows its ctx may read", "[query][auth]") {
  Fixture fx;
  CHECK(qtest::idList(fx.u1.select().from(docs).orderBy(asc(docs.id)).rows()) == S{"d1", "d4", "d5", "d6"});
  CHECK(qtest::idList(fx.u2.select().from(docs).orderBy(asc(docs.id)).rows()) == S{"d2", "d3"});
  CHECK(fx.nobody.select().from(docs).rows().empty());
  CHECK(qtest::idList(fx.u1.select().from(folders).orderBy(asc(folders.id)).rows()) == S{"f1", "f3"});
  // The plain handle (and a transaction) sees everything.
  CHECK(fx.db.select().from(docs).rows().size() == 6);
  CHECK(fx.db.select().from(folders).rows().size() == 3);
  fx.db.read([&](const ReadTx& tx) { CHECK(tx.select(docs).rows().size() == 6); });
  // A table without auth.read is unrestricted through the bound handle.
  CHECK(fx.nobody.select().from(topics).rows().size() == 2);
  // The restriction is ANDed with the query's own where: no way around it.
  CHECK(fx.u1.select().from(docs).where(eq(docs.id, "d3")).rows().empty());
  CHECK(fx.u1.select().from(docs).where(inArray(docs.id, {"d2", "d3", "d4"})).rows().size() == 1);
  CHECK(fx.u1.select().from(docs).where(or_(eq(docs.owner, "u2"), eq(docs.id, "d3"))).rows().empty());
  CHECK(fx.u1.select().from(docs).where(eq(docs.folderId, "f1")).rows().size() == 1);
  CHECK(qtest::idList(fx.u1.select().from(docs).orderBy(desc(docs.title)).limit(2).rows()) == S{"d6", "d5"});
  // Projections, aggregates and grouping see the same rows.
  const QueryResult titles = fx.u1.select({{"t", docs.title}}).from(docs).orderBy(asc(docs.title)).all();
  CHECK(texts(titles, "t") == S{"a", "d", "e", "f"});
  CHECK(fx.u1.select({{"n", count()}}).from(docs).all().rows.at(0)["n"] == Value(4));
  CHECK(fx.nobody.select({{"n", count()}}).from(docs).all().rows.at(0)["n"] == Value(0));
  const QueryResult by_owner = fx.u2.select({{"o", docs.owner}, {"n", count()}}).from(docs).groupBy(docs.owner).all();
  CHECK(pairs(by_owner, "o", "n") == S{"u2|2"});
  // The plan shows the predicate.
  const std::string plan = fx.u1.select().from(docs).where(eq(docs.title, "a")).explain();
  INFO(plan);
  CHECK(contains(plan, "docs.owner = 'u1'"));
  // Prepared through the bound handle.
  PreparedQuery byId = fx.u1.select().from(docs).where(eq(docs.id, param(0))).prepare();
  byId.bind(0, Value("d3"));
  CHECK(byId.rows().empty());
  byId.bind(0, Value("d1"));
  CHECK(qtest::idList(byId.rows()) == S{"d1"});
}

TEST_CASE("auth: inner joins drop unreadable joined rows", "[query][auth][join]") {
  Fixture fx;
  auto q = [](const ServerDb& h) {
    return h.select({{"doc", docs.id}, {"folder", folders.id}})
        .from(docs)
        .innerJoin(folders, eq(docs.folderId, folders.id))
        .orderBy(asc(docs.id));
  };
  // d5 has no folder; d6's folder f2 belongs to u2.
  CHECK(pairs(q(fx.u1).all(), "doc", "folder") == S{"d1|f1", "d4|f3"});
  // d2 sits in u1's folder f1: u2 may read the doc but not the folder.
  CHECK(pairs(q(fx.u2).all(), "doc", "folder") == S{"d3|f2"});
  // The plain handle joins everything.
  CHECK(pairs(fx.db.select({{"doc", docs.id}, {"folder", folders.id}})
                  .from(docs)
                  .innerJoin(folders, eq(docs.folderId, folders.id))
                  .orderBy(asc(docs.id))
                  .all(),
              "doc", "folder") == S{"d1|f1", "d2|f1", "d3|f2", "d4|f3", "d6|f2"});
  // Joined through an index on the restricted table: f1 has d1 and d2, u1 reads d1 only.
  const auto by_index = fx.u1.select({{"folder", folders.id}, {"doc", docs.id}})
                            .from(folders)
                            .innerJoin(docs, eq(docs.folderId, folders.id))
                            .orderBy(asc(folders.id), asc(docs.id));
  INFO(by_index.explain());
  CHECK(contains(by_index.explain(), "USING INDEX by_folder"));
  CHECK(pairs(by_index.all(), "folder", "doc") == S{"f1|d1", "f3|d4"});
  // Through a hash table, from a public table.
  const auto by_hash = fx.u1.select({{"topic", topics.id}, {"doc", docs.id}})
                           .from(topics)
                           .innerJoin(docs, eq(docs.topicId, topics.id))
                           .orderBy(asc(topics.id), asc(docs.id));
  INFO(by_hash.explain());
  CHECK(contains(by_hash.explain(), "USING HASH TABLE"));
  CHECK(pairs(by_hash.all(), "topic", "doc") == S{"p1|d1", "p1|d6", "p2|d5"});
  // Through a nested loop.
  const auto by_loop = fx.u2.select({{"topic", topics.id}, {"doc", docs.id}})
                           .from(topics)
                           .innerJoin(docs, ne(docs.topicId, topics.id))
                           .orderBy(asc(topics.id), asc(docs.id));
  CHECK(contains(by_loop.explain(), "NESTED LOOP"));
  CHECK(pairs(by_loop.all(), "topic", "doc") == S{"p1|d3", "p2|d2"});
}

TEST_CASE("auth: left joins NULL-fill unreadable joined rows", "[query][auth][join]") {
  Fixture fx;
  // d6's folder is not readable by u1: the doc stays, its folder columns are NULL.
  const QueryResult r = fx.u1.select({{"doc", docs.id}, {"folder", folders.id}, {"name", folders.name}})
                            .from(docs)
                            .leftJoin(folders, eq(docs.folderId, folders.id))
                            .orderBy(asc(docs.id))
                            .all();
  INFO(qtest::render(r));
  CHECK(pairs(r, "doc", "folder") == S{"d1|f1", "d4|f3", "d5|" + N, "d6|" + N});
  CHECK(texts(r, "name") == S{"mine", "also mine", N, N});
  // From folders: f1's other doc (d2) is not u1's; an all-unreadable match NULL-fills.
  const QueryResult f = fx.u2.select({{"folder", folders.id}, {"doc", docs.id}})
                            .from(folders)
                            .leftJoin(docs, eq(docs.folderId, folders.id))
                            .orderBy(asc(folders.id), asc(docs.id))
                            .all();
  CHECK(pairs(f, "folder", "doc") == S{"f2|d3"});
  const QueryResult t = fx.u2.select({{"topic", topics.id}, {"doc", docs.id}})
                            .from(topics)
                            .leftJoin(docs, eq(docs.topicId, topics.id))
                            .orderBy(asc(topics.id), asc(docs.id))
                            .all();
  CHECK(pairs(t, "topic", "doc") == S{"p1|d2", "p2|d3"});
  const QueryResult none = fx.nobody.select({{"topic", topics.id}, {"doc", docs.id}})
                               .from(topics)
                               .leftJoin(docs, eq(docs.topicId, topics.id))
                               .orderBy(asc(topics.id))
                               .all();
  CHECK(pairs(none, "topic", "doc") == S{"p1|" + N, "p2|" + N});
  // select() of every column: the unreadable side is entirely NULL.
  const QueryResult all = fx.u1.select().from(docs).leftJoin(folders, eq(docs.folderId, folders.id)).where(eq(docs.id, "d6")).all();
  REQUIRE(all.size() == 1);
  CHECK(all.rows[0]["docs.title"] == Value("f"));
  CHECK(all.rows[0]["folders.id"].isNull());
  CHECK(all.rows[0]["folders.owner"].isNull());
  // Counting over a left join: count(col) skips the NULL-filled rows.
  const QueryResult counts = fx.u1.select({{"folder", folders.id}, {"n", count(docs.id)}})
                                 .from(folders)
                                 .leftJoin(docs, eq(docs.folderId, folders.id))
                                 .groupBy(folders.id)
                                 .orderBy(asc(folders.id))
                                 .all();
  CHECK(pairs(counts, "folder", "n") == S{"f1|1", "f3|1"});
}

TEST_CASE("auth: subqueries through a bound handle are restricted too", "[query][auth][subquery]") {
  Fixture fx;
  const auto inner = fx.u1.select({{"id", docs.id}, {"folder", docs.folderId}}).from(docs);
  const QueryResult r = fx.u1.select({{"n", count()}}).fromSubquery(inner, "s").all();
  CHECK(r.rows.at(0)["n"] == Value(4));
  // An aggregate subquery joined back to a restricted table.
  const auto per_folder = fx.u1.select({{"folder", docs.folderId}, {"n", count()}}).from(docs).groupBy(docs.folderId);
  const QueryResult j = fx.u1.select({{"name", folders.name}, {"n", colRef("s", "n")}})
                            .fromSubquery(per_folder, "s")
                            .leftJoin(folders, eq(colRef("s", "folder"), folders.id))
                            .orderBy(asc(colRef("s", "folder")))
                            .all();
  INFO(qtest::render(j));
  // Groups: NULL (d5), f1 (d1), f2 (d6: folder unreadable), f3 (d4).
  CHECK(pairs(j, "name", "n") == S{N + "|1", "mine|1", N + "|1", "also mine|1"});
  // A subquery built on the plain handle, run inside a bound query, is restricted by the outer handle.
  const auto unrestricted_inner = fx.db.select({{"id", docs.id}}).from(docs);
  CHECK(fx.u2.select({{"n", count()}}).fromSubquery(unrestricted_inner, "s").all().rows.at(0)["n"] == Value(2));
  // ... while the plain handle over it sees all six.
  CHECK(fx.db.select({{"n", count()}}).fromSubquery(unrestricted_inner, "s").all().rows.at(0)["n"] == Value(6));
}

TEST_CASE("auth: a subquery made through a bound handle keeps its restriction inside a plain query",
          "[query][auth][subquery]") {
  Fixture fx;
  // The inner query was built through u1's handle: wherever it runs, it must not
  // return rows u1 may not read.
  const auto inner = fx.u1.select({{"id", docs.id}}).from(docs);
  CHECK(inner.all().size() == 4);
  const QueryResult r = fx.db.select({{"id", colRef("s", "id")}}).fromSubquery(inner, "s").orderBy(asc(colRef("s", "id"))).all();
  CHECK(texts(r, "id") == S{"d1", "d4", "d5", "d6"});
}

TEST_CASE("auth: a read predicate over another table's column is an error naming it", "[query][auth][errors]") {
  Fixture fx;
  expectError([&] { (void)fx.u1.select().from(broken).rows(); }, ErrorCode::UnknownColumn, {"docs.owner", "broken"});
  // The plain handle does not evaluate auth predicates.
  CHECK(fx.db.select().from(broken).rows().size() == 1);
}
