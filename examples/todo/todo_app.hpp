// The todo example: one schema and one set of mutators, used by every binary
// (the example CLI, the server node, the client, the tests and benchmarks).
#pragma once

#include <cstdint>
#include <string>

#include <plasma/plasma.hpp>

namespace todo {

struct Todos : plasma::Table {
  Todos() : Table("todos") {}
  plasma::TextColumn id{this, plasma::id()};
  plasma::TextColumn title{this, plasma::text("title")};
  plasma::IntColumn done{this, plasma::integer("done").defaultTo(0)};
  plasma::IntColumn updatedAt{this, plasma::integer("updatedAt")};
};

inline const Todos todos;

inline const std::string kSchemaVersion = "todos-v1";
inline const plasma::Schema schema = plasma::defineSchema(kSchemaVersion, {todos});

struct Ctx {
  std::string userId;
};

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

inline plasma::Mutators<Ctx> makeMutators() {
  using plasma::eq;
  return plasma::defineMutators<Ctx>()
      .define<CreateTodoArgs>("createTodo",
                              [](const plasma::MutatorCall<Ctx, CreateTodoArgs>& m) {
                                (void)m.db.insert(todos).values({{todos.id, m.args.id},
                                                                 {todos.title, m.args.title},
                                                                 {todos.updatedAt, m.args.updatedAt}});
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
      .define<DeleteTodoArgs>("deleteTodo", [](const plasma::MutatorCall<Ctx, DeleteTodoArgs>& m) {
        (void)m.db.deleteFrom(todos).where(eq(todos.id, m.args.id));
      });
}

inline const plasma::Mutators<Ctx>& mutators() {
  static const plasma::Mutators<Ctx> instance = makeMutators();
  return instance;
}

}  // namespace todo
