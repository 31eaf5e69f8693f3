// tests/sim/sim_app.hpp — the small app the deterministic simulation syncs:
// one table with auth (owner writes, owner or shared reads) and a secondary
// index, and mutators of which one (inc) is not idempotent, so a mutation
// applied twice changes the state. model::apply is the same semantics on a
// plain map, used by the oracle and by the model clients.
#pragma once

#include <any>
#include <cstdint>
#include <map>
#include <string>

#include <boost/json.hpp>
#include <plasma/plasma.hpp>

namespace sim {

struct Ctx {
  std::string user;
};

inline std::string userOf(const std::any& ctx) {
  const Ctx* c = std::any_cast<Ctx>(&ctx);
  return c != nullptr ? c->user : std::string();
}

struct Items : plasma::Table {
  Items()
      : Table("items", plasma::TableOptions{.auth = {
                           .read = [this](const std::any& ctx) -> plasma::Expr {
                             return plasma::or_(plasma::eq(owner, userOf(ctx)), plasma::eq(shared, 1));
                           },
                           .write = [this](const std::any& ctx) -> plasma::Expr {
                             return plasma::eq(owner, userOf(ctx));
                           }}}) {
    index("by_owner", {owner, n});
  }
  plasma::TextColumn id{this, plasma::id()};
  plasma::TextColumn title{this, plasma::text("title")};
  plasma::IntColumn n{this, plasma::integer("n").defaultTo(0)};
  plasma::TextColumn owner{this, plasma::text("owner").defaultTo("")};
  plasma::IntColumn shared{this, plasma::integer("shared").defaultTo(0)};
};

inline const Items items;
inline const std::string kSchemaVersion = "sim-v1";
inline const plasma::Schema schema = plasma::defineSchema(kSchemaVersion, {items});

struct IdTitle {
  std::string id;
  std::string title;
};
BOOST_DESCRIBE_STRUCT(IdTitle, (), (id, title))
struct IdBy {
  std::string id;
  std::int64_t by = 0;
};
BOOST_DESCRIBE_STRUCT(IdBy, (), (id, by))
struct IdFlag {
  std::string id;
  std::int64_t shared = 0;
};
BOOST_DESCRIBE_STRUCT(IdFlag, (), (id, shared))
struct IdOnly {
  std::string id;
};
BOOST_DESCRIBE_STRUCT(IdOnly, (), (id))

inline const plasma::Mutators<Ctx>& mutators() {
  using plasma::eq;
  static const plasma::Mutators<Ctx> m =
      plasma::defineMutators<Ctx>()
          .define<IdTitle>("create",
                           [](const plasma::MutatorCall<Ctx, IdTitle>& c) {
                             (void)c.db.insert(items).values(
                                 {{items.id, c.args.id}, {items.title, c.args.title}, {items.owner, c.ctx.user}});
                           })
          .define<IdTitle>("rename",
                           [](const plasma::MutatorCall<Ctx, IdTitle>& c) {
                             (void)c.db.update(items).set({{items.title, c.args.title}}).where(eq(items.id, c.args.id));
                           })
          .define<IdBy>("inc",  // n += by: applying it twice shows
                        [](const plasma::MutatorCall<Ctx, IdBy>& c) {
                          std::int64_t cur = 0;
                          const auto row = c.db.get(items, c.args.id);
                          if (!row) return;
                          cur = row->get(items.n).value_or(0);
                          (void)c.db.update(items).set({{items.n, cur + c.args.by}}).where(eq(items.id, c.args.id));
                        })
          .define<IdFlag>("share",
                          [](const plasma::MutatorCall<Ctx, IdFlag>& c) {
                            (void)c.db.update(items).set({{items.shared, c.args.shared}}).where(eq(items.id, c.args.id));
                          })
          .define<IdOnly>("del",
                          [](const plasma::MutatorCall<Ctx, IdOnly>& c) {
                            (void)c.db.deleteFrom(items).where(eq(items.id, c.args.id));
                          })
          .define<IdOnly>("boom", [](const plasma::MutatorCall<Ctx, IdOnly>&) {
            throw plasma::Error(plasma::ErrorCode::InvalidArgument, "boom: this mutator always fails");
          });
  return m;
}

// ---- the same semantics on a map ------------------------------------------

struct Item {
  std::string title;
  std::int64_t n = 0;
  std::string owner;
  std::int64_t shared = 0;
  bool operator==(const Item&) const = default;
};
using State = std::map<std::string, Item>;

// Applies mutator `name` for `user`; false when the server would fail it
// (its writes rolled back: `s` unchanged). check_auth = false: as the client
// engine runs it locally (auth.write is the server's check).
inline bool apply(State& s, const std::string& user, const std::string& name, const boost::json::object& a,
                  bool check_auth = true) {
  const std::string id(a.at("id").as_string());
  auto it = s.find(id);
  if (name == "create") {
    if (it != s.end()) return false;  // duplicate id
    s[id] = Item{std::string(a.at("title").as_string()), 0, user, 0};
    return true;
  }
  if (name == "boom") return false;
  if (it == s.end()) return true;               // updates/deletes of a missing row touch nothing
  if (check_auth && it->second.owner != user) return false;  // auth.write
  if (name == "rename") {
    it->second.title = std::string(a.at("title").as_string());
  } else if (name == "inc") {
    it->second.n += a.at("by").as_int64();
  } else if (name == "share") {
    it->second.shared = a.at("shared").as_int64();
  } else if (name == "del") {
    s.erase(it);
  }
  return true;
}

// The rows `user` may read.
inline State visibleTo(const State& s, const std::string& user) {
  State out;
  for (const auto& [id, it] : s) {
    if (it.owner == user || it.shared == 1) out.emplace(id, it);
  }
  return out;
}

}  // namespace sim
