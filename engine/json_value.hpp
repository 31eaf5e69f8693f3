// engine/json_value.hpp — converting between JSON and column values.
//
// The JSON form of a row (used by JSON-object inserts/updates, and by the
// JSON encoding of the sync protocol): text/id -> string; integer/bigint ->
// number (integral); boolean -> true/false (0 and 1 are accepted on input,
// as SQLite-backed peers send them); blob -> base64 string; json and CRDT
// columns -> any JSON value; file -> {"hash", "size", "mime"}; NULL -> null.
#pragma once

#include <boost/json/fwd.hpp>

#include "plasma/schema.hpp"
#include "plasma/value.hpp"

namespace plasma::detail {

// False when a number in `v` is not finite: Boost.JSON reads text too large
// for a double (1e999) as infinity, which JSON cannot carry back.
bool jsonNumbersFinite(const boost::json::value& v) noexcept;

// Throws Error(TypeMismatch) naming table.column when `v` does not fit.
Value valueFromJson(const TableSpec& table, const ColumnSpec& column, const boost::json::value& v);

}  // namespace plasma::detail
