// The todo example: one schema and one set of mutators, used by every binary
// (the example CLI, the server node, the client, the tests and benchmarks).
#pragma once

#include <any>
#include <cstdint>
#include <string>

#include <plasma/plasma.hpp>

namespace todo {

struct Ctx {
  std::string userId;
};

// The user a sync request acts for (the node's auth hook puts it in the ctx).
inline std::string userOf(const std::any& ctx) {
  const Ctx* c = std::any_cast<Ctx>(&ctx);
  return c != nullptr ? c->userId : std::string();
}

// A todo belongs to its owner; others see it while it is shared. Only the
// owner may change it. Through the sync node these predicates filter every
// pull and check every row a mutator writes.
struct Todos : plasma::Table {
  Todos()
      : Table("todos", plasma::TableOptions{.auth = {
                           .read = [this](const std::any& ctx) -> plasma::Expr {
                             return plasma::or_(plasma::eq(owner, userOf(ctx)), plasma::eq(shared, 1));
                           },
                           .write = [this](const std::any& ctx) -> plasma::Expr {
                             return plasma::eq(owner, userOf(ctx));
                           }}}) {}
  plasma::TextColumn id{this, plasma::id()};
  plasma::TextColumn title{this, plasma::text("title")};
  plasma::IntColumn done{this, plasma::integer("done").defaultTo(0)};
  plasma::IntColumn updatedAt{this, plasma::integer("updatedAt")};
  plasma::TextColumn owner{this, plasma::text("owner").defaultTo("")};
  plasma::IntColumn shared{this, plasma::integer("shared").defaultTo(0)};
};

inline const Todos todos;

inline const std::string kSchemaVersion = "todos-v2";
inline const plasma::Schema schema = plasma::defineSchema(kSchemaVersion, {todos});

struct CreateTodoArgs {
  std::string id;
  std::string title;
  std::int64_t updatedAt = 0;
};
BOOST_DESCRIBE_STRUCT(CreateTodoArgs, (), (id, title, updatedAt))

struct MarkDoneArgs {
  std::string id;
  std::int64_t updatedAt = 0;
};
BOOST_DESCRIBE_STRUCT(MarkDoneArgs, (), (id, updatedAt))

struct RenameTodoArgs {
  std::string id;
  std::string title;
  std::int64_t updatedAt = 0;
};
BOOST_DESCRIBE_STRUCT(RenameTodoArgs, (), (id, title, updatedAt))

struct DeleteTodoArgs {
  std::string id;
};
BOOST_DESCRIBE_STRUCT(DeleteTodoArgs, (), (id))

struct ShareTodoArgs {
  std::string id;
  bool shared = false;
};
BOOST_DESCRIBE_STRUCT(ShareTodoArgs, (), (id, shared))

inline plasma::Mutators<Ctx> makeMutators() {
  using plasma::eq;
  return plasma::defineMutators<Ctx>()
      .define<CreateTodoArgs>("createTodo",
                              [](const plasma::MutatorCall<Ctx, CreateTodoArgs>& m) {
                                (void)m.db.insert(todos).values({{todos.id, m.args.id},
                                                                 {todos.title, m.args.title},
                                                                 {todos.updatedAt, m.args.updatedAt},
                                                                 {todos.owner, m.ctx.userId}});
                              })
      .define<MarkDoneArgs>("markDone",
                            [](const plasma::MutatorCall<Ctx, MarkDoneArgs>& m) {
                              (void)m.db.update(todos)
                                  .set({{todos.done, 1}, {todos.updatedAt, m.args.updatedAt}})
                                  .where(eq(todos.id, m.args.id));
                            })
      .define<RenameTodoArgs>("renameTodo",
                              [](const plasma::MutatorCall<Ctx, RenameTodoArgs>& m) {
                                (void)m.db.update(todos)
                                    .set({{todos.title, m.args.title}, {todos.updatedAt, m.args.updatedAt}})
                                    .where(eq(todos.id, m.args.id));
                              })
      .define<DeleteTodoArgs>("deleteTodo",
                              [](const plasma::MutatorCall<Ctx, DeleteTodoArgs>& m) {
                                (void)m.db.deleteFrom(todos).where(eq(todos.id, m.args.id));
                              })
      .define<ShareTodoArgs>("shareTodo", [](const plasma::MutatorCall<Ctx, ShareTodoArgs>& m) {
        (void)m.db.update(todos).set({{todos.shared, m.args.shared ? 1 : 0}}).where(eq(todos.id, m.args.id));
      });
}

inline const plasma::Mutators<Ctx>& mutators() {
  static const plasma::Mutators<Ctx> instance = makeMutators();
  return instance;
}

}  // namespace todo
