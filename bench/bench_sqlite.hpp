// bench/bench_sqlite.hpp — thin RAII wrappers over the SQLite C API shared by
// the SQLite sides (bench_sqlite.cpp, bench_query_sqlite.cpp).
#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace plasma_bench::sqlite {

class Connection {
 public:
  explicit Connection(const std::filesystem::path& file) {
    const int rc = sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      throw std::runtime_error("sqlite open " + file.string() + ": " + msg);
    }
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { sqlite3_close_v2(db_); }

  sqlite3* get() const noexcept { return db_; }
  void check(int rc, const char* what) const {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
      throw std::runtime_error(std::string("sqlite ") + what + ": " + sqlite3_errmsg(db_));
    }
  }
  void exec(const char* sql) const { check(sqlite3_exec(db_, sql, nullptr, nullptr, nullptr), sql); }

 private:
  sqlite3* db_ = nullptr;
};

class Statement {
 public:
  Statement(const Connection& conn, const char* sql) : conn_(&conn) {
    conn.check(sqlite3_prepare_v3(conn.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr), sql);
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  sqlite3_stmt* get() const noexcept { return stmt_; }
  int step() const {
    const int rc = sqlite3_step(stmt_);
    conn_->check(rc, "step");
    return rc;
  }
  void reset() const { sqlite3_reset(stmt_); }
  // Steps a statement that returns no rows (BEGIN, COMMIT) and resets it.
  void run() const {
    step();
    reset();
  }

 private:
  const Connection* conn_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace plasma_bench::sqlite
