// engine/row_codec.hpp — rows as FlatBuffers tables built from the schema.
//
// Column i of a table lives in vtable slot `slot[i]`; a new store assigns
// slot i to the i-th declared column, and columns added by migration take
// the next free slots, so old rows need no rewrite.
//
// Presence rules (see docs/storage.md):
// - every row's vtable spans every slot its writer knew (the builder pads
//   the vtable), so an absent field *inside* the vtable is NULL;
// - a slot *beyond* the vtable belongs to a column added after the row was
//   written: it reads the column's fill value (its default when it was
//   added, else NULL).
//
// The id column is not stored in the row: the id is the LMDB key (and
// travels beside the row in change-log entries and on the wire).
//
// Storage per kind: integer/bigint -> int64, boolean -> bool, id/text/json/
// CRDT -> string, blob -> [ubyte], file -> table {hash:string; size:long;
// mime:string} in slots 0..2.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plasma/row.hpp"
#include "plasma/schema.hpp"
#include "plasma/value.hpp"

namespace plasma::detail {

// RowLayout is defined in plasma/row.hpp (the inline accessors need it).

// A full row to encode: one Value per declared column (NULL allowed only
// where the column is nullable; encodeRow does not check constraints).
// Appends nothing to `out` on error. Reuses `scratch` between calls.
class RowEncoder {
 public:
  RowEncoder();
  ~RowEncoder();
  // Returns the encoded bytes; valid until the next encode().
  std::span<const std::uint8_t> encode(const RowLayout& layout, const std::vector<Value>& values);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The schema-driven verifier: FlatBuffers structure, every field of the kind
// its column declares, the id slot empty (the id is the key), NOT NULL
// columns present, JSON columns well-formed, no fields in unknown slots. Throws Error(CorruptRow) naming the table (and
// column) on failure.
void verifyRow(const RowLayout& layout, std::span<const std::uint8_t> bytes);
// The same as a boolean, with the reason in `why`.
bool checkRow(const RowLayout& layout, std::span<const std::uint8_t> bytes, std::string* why);

// Every column's value, in declaration order.
std::vector<Value> decodeRow(const RowView& row);

}  // namespace plasma::detail
