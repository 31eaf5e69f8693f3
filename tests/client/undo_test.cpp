// The client's undo (rolling pending mutations back from their base images)
// on tables with foreign keys: base rows are restored parents first and rows
// the pending mutations created are deleted children first, so no
// foreign-key check trips whatever order the undo records were written in.
// No node: discardMutation runs the same undo + replay as a rebase.
#include <boost/json.hpp>

#include "client/client.hpp"
#include "test_util.hpp"

using namespace plasma;
using plasma_test::TempDir;
namespace json = boost::json;

namespace {

struct Lists : Table {
  Lists() : Table("lists") {}
  TextColumn id{this, plasma::id()};
  TextColumn name{this, text("name")};
};
const Lists lists;

// Two child tables, one sorting before the parent's name and one after: the
// undo table is keyed "<table>/<id>", so an undo in record order would
// restore an aitems row before its list, and delete a list before its zitems.
struct Items : Table {
  explicit Items(const char* name) : Table(name) {}
  TextColumn id{this, plasma::id()};
  TextColumn list{this, text("list").ref(lists.id, OnDelete::Restrict)};
};
const Items aitems("aitems");
const Items zitems("zitems");

sync::MutatorRunner runner() {
  return [](Tx& tx, const sync::MutatorCallInfo& m) {
    const auto& a = m.args.as_object();
    const std::string list(a.at("list").as_string());
    const std::string item(a.at("item").as_string());
    const Items& items = a.contains("z") ? zitems : aitems;
    if (m.name == "create") {
      (void)tx.insert(lists).values({{lists.id, list}, {lists.name, std::string("new")}});
      (void)tx.insert(items).values({{items.id, item}, {items.list, list}});
    } else if (m.name == "remove") {
      (void)tx.deleteFrom(items).where(eq(items.id, item));
      (void)tx.deleteFrom(lists).where(eq(lists.id, list));
    } else if (m.name == "move") {  // point an existing item at a new list
      (void)tx.insert(lists).values({{lists.id, list}, {lists.name, std::string("moved-to")}});
      (void)tx.update(items).set({{items.list, list}}).where(eq(items.id, item));
    } else {
      throw std::runtime_error("unknown mutator " + std::string(m.name));
    }
  };
}

client::ClientOptions options(const std::filesystem::path& dir) {
  client::ClientOptions o;
  o.tables = {lists, aitems, zitems};
  o.schema_version = "fk-v1";
  o.runner = runner();
  o.data_dir = dir;
  o.durability = Durability::NoSync;
  o.port = 1;  // never contacted
  o.offline = true;
  return o;
}

std::size_t count(client::Client& c, const Table& t) {
  return static_cast<std::size_t>(c.db().read([&](ReadTx& tx) { return tx.count(t); }));
}

}  // namespace

TEST_CASE("client undo: created parent and child are removed children first", "[client][fk]") {
  TempDir dir;
  client::Client c(options(dir.path()));
  auto h = c.mutate("create", json::object{{"list", "l-1"}, {"item", "z-1"}, {"z", true}});
  CHECK(count(c, lists) == 1);
  CHECK(count(c, zitems) == 1);
  REQUIRE(c.discardMutation(h.id));
  CHECK(count(c, lists) == 0);
  CHECK(count(c, zitems) == 0);
}

TEST_CASE("client undo: deleted parent and child are restored parents first", "[client][fk]") {
  TempDir dir;
  client::Client c(options(dir.path()));
  // Base state (as a pull would have written it).
  c.db().write([](Tx& tx) {
    (void)tx.insert(lists).values({{lists.id, std::string("l-base")}, {lists.name, std::string("base")}});
    (void)tx.insert(aitems).values({{aitems.id, std::string("a-base")}, {aitems.list, std::string("l-base")}});
  });
  auto h = c.mutate("remove", json::object{{"list", "l-base"}, {"item", "a-base"}});
  CHECK(count(c, lists) == 0);
  REQUIRE(c.discardMutation(h.id));
  CHECK(count(c, lists) == 1);
  CHECK(count(c, aitems) == 1);
  CHECK(c.db().get(aitems, "a-base")->view().get(aitems.list).value_or("") == "l-base");
}

TEST_CASE("client undo: an item moved to a created list is restored before that list is deleted", "[client][fk]") {
  TempDir dir;
  client::Client c(options(dir.path()));
  c.db().write([](Tx& tx) {
    (void)tx.insert(lists).values({{lists.id, std::string("l-base")}, {lists.name, std::string("base")}});
    (void)tx.insert(aitems).values({{aitems.id, std::string("a-base")}, {aitems.list, std::string("l-base")}});
  });
  auto h = c.mutate("move", json::object{{"list", "l-new"}, {"item", "a-base"}});
  auto later = c.mutate("create", json::object{{"list", "l-2"}, {"item", "a-2"}});
  REQUIRE(c.discardMutation(h.id));
  // The move is gone, the later mutation replayed on the base.
  CHECK(!c.db().get(lists, "l-new").has_value());
  CHECK(c.db().get(aitems, "a-base")->view().get(aitems.list).value_or("") == "l-base");
  CHECK(c.db().get(aitems, "a-2").has_value());
  CHECK(c.pendingCount() == 1);
  (void)later;
}

TEST_CASE("client: the handles of a destroyed Client resolve Detached - the mutation stays pending", "[client]") {
  TempDir dir;
  client::MutationHandle h;
  {
    client::Client c(options(dir.path()));
    h = c.mutate("create", json::object{{"list", "l-1"}, {"item", "a-1"}});
  }
  REQUIRE(h.outcome.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
  CHECK(h.outcome.get().kind == client::OutcomeKind::Detached);
  client::Client again(options(dir.path()));
  CHECK(again.pendingCount() == 1);
}
