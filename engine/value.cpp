#include "plasma/value.hpp"

#include <cstdio>

#include "plasma/error.hpp"

namespace plasma {

std::string_view kindName(Kind k) noexcept {
  switch (k) {
    case Kind::Null: return "null";
    case Kind::Integer: return "integer";
    case Kind::Real: return "real";
    case Kind::Boolean: return "boolean";
    case Kind::Text: return "text";
    case Kind::Blob: return "blob";
    case Kind::Json: return "json";
    case Kind::File: return "file";
  }
  return "unknown";
}

std::string Value::toString() const {
  switch (kind()) {
    case Kind::Null: return "NULL";
    case Kind::Integer: return std::to_string(asInt());
    case Kind::Real: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", asReal());
      return buf;
    }
    case Kind::Boolean: return asBool() ? "true" : "false";
    case Kind::Text: return "'" + asText() + "'";
    case Kind::Blob: return "blob(" + std::to_string(asBlob().size()) + " bytes)";
    case Kind::Json: return asJson();
    case Kind::File: return "file(" + asFile().hash + ")";
  }
  return "?";
}

std::string_view errorCodeName(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::SchemaInvalid: return "SchemaInvalid";
    case ErrorCode::SchemaMismatch: return "SchemaMismatch";
    case ErrorCode::MigrationRefused: return "MigrationRefused";
    case ErrorCode::UnknownTable: return "UnknownTable";
    case ErrorCode::UnknownColumn: return "UnknownColumn";
    case ErrorCode::TypeMismatch: return "TypeMismatch";
    case ErrorCode::NotNull: return "NotNull";
    case ErrorCode::PrimaryKey: return "PrimaryKey";
    case ErrorCode::Unique: return "Unique";
    case ErrorCode::ForeignKey: return "ForeignKey";
    case ErrorCode::CorruptRow: return "CorruptRow";
    case ErrorCode::InvalidArgument: return "InvalidArgument";
    case ErrorCode::MutatorNotFound: return "MutatorNotFound";
    case ErrorCode::MutatorArgs: return "MutatorArgs";
    case ErrorCode::Storage: return "Storage";
    case ErrorCode::Poisoned: return "Poisoned";
    case ErrorCode::Unauthorized: return "Unauthorized";
  }
  return "Unknown";
}

}  // namespace plasma
