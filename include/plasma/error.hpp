// plasma/error.hpp — the errors the engine raises.
//
// Errors that end an operation are exceptions derived from plasma::Error; each
// carries a Code so callers (and the sync layer) can classify it without
// parsing messages. Messages name what was wrong: the table, the column, the
// value, the mutator, the field. Expected outcomes (a row not found) are
// values (std::optional), not exceptions.
#pragma once

#include <stdexcept>
#include <string>

namespace plasma {

enum class ErrorCode {
  SchemaInvalid,       // a schema definition that cannot be built
  SchemaMismatch,      // the stored catalog differs from the schema in use
  MigrationRefused,    // a non-additive change: drop, rename, type change
  UnknownTable,
  UnknownColumn,
  TypeMismatch,        // a value of the wrong kind for a column or operator
  NotNull,             // NULL (or nothing) for a NOT NULL column
  PrimaryKey,          // duplicate id, empty id, or an attempt to change an id
  Unique,              // duplicate value in a unique column or index
  ForeignKey,          // missing parent, or restrict/noAction on delete
  CorruptRow,          // row bytes that fail the schema-driven verifier
  InvalidArgument,     // a malformed request to the API (bad key, bad limit)
  MutatorNotFound,
  MutatorArgs,         // mutator arguments missing or of the wrong type
  Storage,             // LMDB / filesystem failure (map full, disk full, ...)
  Poisoned,            // a previous fatal storage error disabled writes
  Unauthorized,        // a write that the table's auth.write predicate rejects
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// Raised by runMigrations/ensureSchema for drops, renames and type changes.
class MigrationRefused : public Error {
 public:
  explicit MigrationRefused(const std::string& message) : Error(ErrorCode::MigrationRefused, message) {}
};

// Storage errors keep the LMDB / errno code that caused them.
class StorageError : public Error {
 public:
  StorageError(int native_code, const std::string& message, ErrorCode code = ErrorCode::Storage)
      : Error(code, message), native_code_(native_code) {}
  int nativeCode() const noexcept { return native_code_; }
  bool isMapFull() const noexcept;

 private:
  int native_code_;
};

std::string_view errorCodeName(ErrorCode code) noexcept;

}  // namespace plasma
