// plasma/row.hpp — reading rows.
//
// A RowView reads a stored row in place: its bytes are the FlatBuffers table
// as LMDB keeps it in its memory map, and no decode step runs. LIFETIME: a
// RowView is valid only inside the read or write callback that produced it
// (Database::read / Database::write); LMDB may reuse the page afterwards.
// Copy what must outlive the callback with toOwned().
//
// An OwnedRow holds its own copy of the bytes and may be kept anywhere.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "plasma/schema.hpp"
#include "plasma/value.hpp"

namespace plasma {

namespace detail {

// How one table's rows are laid out: the FlatBuffers vtable slot of each
// declared column, and the value a row reads for a column added after it
// was written (docs/storage.md). Built by the engine from the catalog.
struct RowLayout : std::enable_shared_from_this<RowLayout> {
  const TableSpec* spec = nullptr;
  std::vector<std::uint16_t> slot;  // per declared column
  std::vector<Value> fill;          // per declared column: value for rows that predate it
  std::uint16_t max_slot = 0;
  std::uint32_t id_column = 0;

  std::uint16_t vtableOffset(std::uint32_t column) const noexcept {
    return static_cast<std::uint16_t>(4 + 2 * slot[column]);
  }
};

// Little-endian loads from possibly unaligned row bytes (FlatBuffers is
// little-endian on the wire and on disk).
static_assert(std::endian::native == std::endian::little, "plasma reads FlatBuffers rows in place");
template <class T>
inline T loadLe(const std::uint8_t* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace detail

class OwnedRow;

// The id of a row is its LMDB key, not part of its bytes (the row's id slot
// stays empty in storage; see docs/storage.md), so a view carries both.
class RowView {
 public:
  RowView(const detail::RowLayout* layout, const std::uint8_t* data, std::size_t size, std::string_view id) noexcept
      : layout_(layout), data_(data), size_(size), id_(id) {}

  const TableSpec& table() const noexcept;
  std::string_view id() const noexcept { return id_; }

  // Generic access by column handle; the handle must belong to this row's table.
  bool isNull(AnyColumn c) const;
  Value get(AnyColumn c) const;
  Value get(std::uint32_t column_index) const;

  // Typed, zero-copy access; std::nullopt for NULL.
  std::optional<std::int64_t> get(const Column<Kind::Integer>& c) const { return getInt(c.index()); }
  std::optional<std::string_view> get(const Column<Kind::Text>& c) const { return getText(c.index()); }
  std::optional<bool> get(const Column<Kind::Boolean>& c) const { return getBool(c.index()); }
  std::optional<std::span<const std::uint8_t>> get(const Column<Kind::Blob>& c) const {
    return getBlob(c.index());
  }
  std::optional<std::string_view> get(const Column<Kind::Json>& c) const { return getText(c.index()); }
  std::optional<FileRef> get(const Column<Kind::File>& c) const;

  // By column index (REQUIRES: a column of this row's table, of that kind).
  std::optional<std::int64_t> getInt(std::uint32_t column_index) const {
    std::int64_t v = 0;
    if (intAt(column_index, &v)) return v;
    return std::nullopt;
  }
  std::optional<bool> getBool(std::uint32_t column_index) const {
    const std::uint8_t* field = nullptr;
    switch (locate(column_index, &field)) {
      case Field::Present: return *field != 0;
      case Field::Null: return std::nullopt;
      case Field::Newer: break;
    }
    return fillBool(column_index);
  }
  // Text, id and JSON columns.
  std::optional<std::string_view> getText(std::uint32_t column_index) const {
    std::string_view v;
    if (textAt(column_index, &v)) return v;
    return std::nullopt;
  }
  std::optional<std::span<const std::uint8_t>> getBlob(std::uint32_t column_index) const {
    const std::uint8_t* field = nullptr;
    switch (locate(column_index, &field)) {
      case Field::Present: {
        const std::uint8_t* vec = field + detail::loadLe<std::uint32_t>(field);
        return std::span<const std::uint8_t>(vec + 4, detail::loadLe<std::uint32_t>(vec));
      }
      case Field::Null: return std::nullopt;
      case Field::Newer: break;
    }
    return fillBlob(column_index);
  }

  // The same reads without std::optional, for hot loops (an optional
  // returned through memory costs a store-forwarding stall per field):
  // false for NULL, else the value in *out.
  bool intAt(std::uint32_t column_index, std::int64_t* out) const {
    const std::uint8_t* field = nullptr;
    switch (locate(column_index, &field)) {
      case Field::Present: *out = detail::loadLe<std::int64_t>(field); return true;
      case Field::Null: return false;
      case Field::Newer: break;
    }
    const auto v = fillInt(column_index);
    if (v) *out = *v;
    return v.has_value();
  }
  bool textAt(std::uint32_t column_index, std::string_view* out) const {
    if (column_index == layout_->id_column) {
      *out = id_;
      return true;
    }
    const std::uint8_t* field = nullptr;
    switch (locate(column_index, &field)) {
      case Field::Present: {
        const std::uint8_t* str = field + detail::loadLe<std::uint32_t>(field);
        *out = std::string_view(reinterpret_cast<const char*>(str + 4), detail::loadLe<std::uint32_t>(str));
        return true;
      }
      case Field::Null: return false;
      case Field::Newer: break;
    }
    const auto v = fillText(column_index);
    if (v) *out = *v;
    return v.has_value();
  }

  std::span<const std::uint8_t> bytes() const noexcept { return {data_, size_}; }
  OwnedRow toOwned() const;
  // Every column as a JSON object: blobs as base64, files as {hash,size,mime},
  // json/CRDT columns as parsed JSON.
  boost::json::object toJson() const;

  const detail::RowLayout& layout() const noexcept { return *layout_; }

 private:
  enum class Field { Present, Null, Newer };
  // Finds column `i`'s field in the FlatBuffers table (root offset -> table
  // -> vtable): Present with *field set, Null (absent inside the vtable), or
  // Newer (beyond the vtable: the column was added after this row).
  Field locate(std::uint32_t i, const std::uint8_t** field) const noexcept {
    const std::uint8_t* table = data_ + detail::loadLe<std::uint32_t>(data_);
    const std::uint8_t* vtable = table - detail::loadLe<std::int32_t>(table);
    const std::uint16_t vt = layout_->vtableOffset(i);
    if (vt >= detail::loadLe<std::uint16_t>(vtable)) return Field::Newer;
    const std::uint16_t off = detail::loadLe<std::uint16_t>(vtable + vt);
    if (off == 0) return Field::Null;
    *field = table + off;
    return Field::Present;
  }
  std::optional<std::int64_t> fillInt(std::uint32_t i) const;
  std::optional<bool> fillBool(std::uint32_t i) const;
  std::optional<std::string_view> fillText(std::uint32_t i) const;
  std::optional<std::span<const std::uint8_t>> fillBlob(std::uint32_t i) const;

  const detail::RowLayout* layout_;
  const std::uint8_t* data_;
  std::size_t size_;
  std::string_view id_;
};

class OwnedRow {
 public:
  OwnedRow(std::shared_ptr<const detail::RowLayout> layout, std::string id, std::string bytes)
      : layout_(std::move(layout)), id_(std::move(id)), bytes_(std::move(bytes)) {}

  RowView view() const noexcept {
    return RowView(layout_.get(), reinterpret_cast<const std::uint8_t*>(bytes_.data()), bytes_.size(), id_);
  }
  // The stored bytes (without the id, which is the key).
  const std::string& bytes() const noexcept { return bytes_; }
  const std::string& id() const noexcept { return id_; }
  template <class C>
  auto get(const C& c) const {
    return view().get(c);
  }
  boost::json::object toJson() const;

  // Rows are equal when their column values are equal (not their bytes).
  friend bool operator==(const OwnedRow& a, const OwnedRow& b);

 private:
  std::shared_ptr<const detail::RowLayout> layout_;
  std::string id_;
  std::string bytes_;
};

}  // namespace plasma
