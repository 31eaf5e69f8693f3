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

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/json/fwd.hpp>

#include "plasma/schema.hpp"
#include "plasma/value.hpp"

namespace plasma {

namespace detail {
struct RowLayout;
}

class OwnedRow;

class RowView {
 public:
  RowView(const detail::RowLayout* layout, const std::uint8_t* data, std::size_t size) noexcept
      : layout_(layout), data_(data), size_(size) {}

  const TableSpec& table() const noexcept;
  std::string_view id() const;

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

  std::optional<std::int64_t> getInt(std::uint32_t column_index) const;
  std::optional<bool> getBool(std::uint32_t column_index) const;
  // Text, id and JSON columns.
  std::optional<std::string_view> getText(std::uint32_t column_index) const;
  std::optional<std::span<const std::uint8_t>> getBlob(std::uint32_t column_index) const;

  std::span<const std::uint8_t> bytes() const noexcept { return {data_, size_}; }
  OwnedRow toOwned() const;
  // Every column as a JSON object: blobs as base64, files as {hash,size,mime},
  // json/CRDT columns as parsed JSON.
  boost::json::object toJson() const;

  const detail::RowLayout& layout() const noexcept { return *layout_; }

 private:
  const detail::RowLayout* layout_;
  const std::uint8_t* data_;
  std::size_t size_;
};

class OwnedRow {
 public:
  OwnedRow(std::shared_ptr<const detail::RowLayout> layout, std::string bytes)
      : layout_(std::move(layout)), bytes_(std::move(bytes)) {}

  RowView view() const noexcept {
    return RowView(layout_.get(), reinterpret_cast<const std::uint8_t*>(bytes_.data()), bytes_.size());
  }
  const std::string& bytes() const noexcept { return bytes_; }
  std::string_view id() const { return view().id(); }
  template <class C>
  auto get(const C& c) const {
    return view().get(c);
  }
  boost::json::object toJson() const;

  // Rows are equal when their column values are equal (not their bytes).
  friend bool operator==(const OwnedRow& a, const OwnedRow& b);

 private:
  std::shared_ptr<const detail::RowLayout> layout_;
  std::string bytes_;
};

}  // namespace plasma
