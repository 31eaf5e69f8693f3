// plasma-todo: the todo example against a local database directory.
//
// Creates three todos, marks one done, renames one, deletes one, lists what
// is left with a query, and prints the change-log entries this run wrote.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

#include "todo_app.hpp"

namespace {

constexpr std::string_view kUsage =
    "usage: plasma-todo [--dir DIR] [--reset]\n"
    "  --dir DIR   database directory (default ./data/todo; created if missing)\n"
    "  --reset     delete the directory's database files first\n";

struct Options {
  std::filesystem::path dir = "./data/todo";
  bool reset = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (a == "--dir" && i + 1 < argc) {
      o.dir = argv[++i];
    } else if (a == "--reset") {
      o.reset = true;
    } else {
      std::cerr << "plasma-todo: unknown or incomplete argument '" << a << "'\n" << kUsage;
      std::exit(2);
    }
  }
  return o;
}

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void call(plasma::Database& db, std::string_view name, boost::json::object args) {
  plasma::invokeMutator(todo::mutators(), name,
                        plasma::InvokeOptions<todo::Ctx>{db, std::move(args), todo::Ctx{"demo-user"}, "plasma-todo", 0,
                                                         "demo"});
  std::cout << "  " << name << "\n";
}

void printLog(const plasma::Database& db, std::uint64_t after) {
  std::cout << "\nchange log (entries after version " << after << "):\n";
  for (const plasma::Change& c : db.logEntries(after)) {
    std::cout << "  v" << c.version << "  " << (c.op == plasma::ChangeOp::Put ? "put" : "del") << "  " << c.table
              << "/" << c.id;
    if (c.row) std::cout << "  " << boost::json::serialize(c.row->toJson());
    std::cout << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  try {
    if (opt.reset) {
      std::filesystem::remove(opt.dir / "data.mdb");
      std::filesystem::remove(opt.dir / "lock.mdb");
    }
    auto db = plasma::Database::open(opt.dir, todo::schema);
    db.ensureSchema();
    const std::uint64_t start = db.headVersion();
    std::cout << "plasma-todo: database " << opt.dir << " (schema " << todo::kSchemaVersion << ", log head " << start
              << ")\n\nmutations:\n";

    const std::string milk = plasma::newId(), docs = plasma::newId(), ship = plasma::newId();
    call(db, "createTodo", {{"id", milk}, {"title", "buy milk"}, {"updatedAt", nowMs()}});
    call(db, "createTodo", {{"id", docs}, {"title", "write the docs"}, {"updatedAt", nowMs()}});
    call(db, "createTodo", {{"id", ship}, {"title", "ship plasma"}, {"updatedAt", nowMs()}});
    call(db, "markDone", {{"id", milk}, {"updatedAt", nowMs()}});
    call(db, "renameTodo", {{"id", ship}, {"title", "ship plasma 0.1"}, {"updatedAt", nowMs()}});
    call(db, "deleteTodo", {{"id", docs}});

    std::cout << "\ntodos (select ... orderBy done, updatedAt):\n";
    db.read([&](plasma::ReadTx& r) {
      const auto rows = r.select(todo::todos).orderBy({plasma::asc(todo::todos.done), plasma::asc(todo::todos.updatedAt)}).rows();
      for (const auto& row : rows) {
        std::cout << "  [" << (row.get(todo::todos.done).value_or(0) ? 'x' : ' ') << "] "
                  << row.get(todo::todos.title).value_or("") << "  (" << row.id() << ")\n";
      }
      std::cout << "  " << rows.size() << " todo(s); open: "
                << r.select(todo::todos).where(plasma::eq(todo::todos.done, 0)).rows().size() << "\n";
    });
    printLog(db, start);
    return 0;
  } catch (const plasma::Error& e) {
    std::cerr << "plasma-todo: " << plasma::errorCodeName(e.code()) << ": " << e.what() << "\n";
    return 1;
  }
}
