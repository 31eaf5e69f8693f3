#include "engine/row_codec.hpp"

#include <cassert>
#include <cstring>

#include <boost/json.hpp>
#include <flatbuffers/flatbuffers.h>
#include <sodium.h>

#include "engine/json_parse.hpp"
#include "plasma/error.hpp"

namespace plasma::detail {

namespace fb = flatbuffers;

namespace {

// File references are a nested table with these vtable offsets.
constexpr fb::voffset_t kFileHash = 4;
constexpr fb::voffset_t kFileSize = 6;
constexpr fb::voffset_t kFileMime = 8;

// A builder that pads each table's vtable to cover a given slot, so that a
// NULL in the last columns is still distinguishable from "column did not
// exist when the row was written" (see row_codec.hpp).
class PaddedBuilder : public fb::FlatBufferBuilder {
 public:
  using fb::FlatBufferBuilder::FlatBufferBuilder;
  void coverSlot(std::uint16_t slot) {
    const auto off = static_cast<fb::voffset_t>(fb::FieldIndexToOffset(slot));
    if (off > max_voffset_) max_voffset_ = off;
  }
};

const fb::Table* rootTable(const std::uint8_t* data) { return fb::GetRoot<fb::Table>(data); }

// The field offset of vtable entry `vt`: 0 when absent; -1 when the vtable
// ends before it (the column is newer than the row).
int fieldOffset(const fb::Table* t, fb::voffset_t vt) {
  const std::uint8_t* vtable = t->GetVTable();
  const auto vtsize = fb::ReadScalar<fb::voffset_t>(vtable);
  if (vt >= vtsize) return -1;
  return fb::ReadScalar<fb::voffset_t>(vtable + vt);
}

std::string_view readString(const std::uint8_t* field) {
  const auto* s = reinterpret_cast<const fb::String*>(field + fb::ReadScalar<fb::uoffset_t>(field));
  return {s->c_str(), s->size()};
}


}  // namespace

// ---- encoding ------------------------------------------------------------------

struct RowEncoder::Impl {
  PaddedBuilder builder{256};
  std::vector<fb::uoffset_t> offsets;
};

RowEncoder::RowEncoder() : impl_(std::make_unique<Impl>()) {}
RowEncoder::~RowEncoder() = default;

std::span<const std::uint8_t> RowEncoder::encode(const RowLayout& layout, const std::vector<Value>& values) {
  assert(values.size() == layout.spec->columns.size());
  PaddedBuilder& b = impl_->builder;
  b.Clear();
  auto& offsets = impl_->offsets;
  offsets.assign(values.size(), 0);
  // Pass 1: strings, vectors and nested tables are built before the row.
  for (std::size_t i = 0; i < values.size(); ++i) {
    const Value& v = values[i];
    if (i == layout.id_column) continue;  // the id is the key, not part of the bytes
    switch (v.kind()) {
      case Kind::Text: offsets[i] = b.CreateString(v.asText()).o; break;
      case Kind::Json: offsets[i] = b.CreateString(v.asJson()).o; break;
      case Kind::Blob: offsets[i] = b.CreateVector(v.asBlob()).o; break;
      case Kind::File: {
        const FileRef& f = v.asFile();
        const auto hash = b.CreateString(f.hash);
        const auto mime = b.CreateString(f.mime);
        const auto start = b.StartTable();
        b.AddElement<std::int64_t>(kFileSize, f.size);
        b.AddOffset(kFileHash, hash);
        b.AddOffset(kFileMime, mime);
        offsets[i] = b.EndTable(start);
        break;
      }
      default: break;
    }
  }
  // Pass 2: the row table, widest scalars first to keep padding small.
  const auto start = b.StartTable();
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i].kind() == Kind::Integer) b.AddElement<std::int64_t>(layout.vtableOffset(i), values[i].asInt());
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (offsets[i] != 0) b.AddOffset(layout.vtableOffset(i), fb::Offset<void>(offsets[i]));
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i].kind() == Kind::Boolean) {
      b.AddElement<std::uint8_t>(layout.vtableOffset(i), values[i].asBool() ? 1 : 0);
    }
  }
  b.coverSlot(layout.max_slot);
  const auto root = b.EndTable(start);
  b.Finish(fb::Offset<fb::Table>(root));
  return {b.GetBufferPointer(), b.GetSize()};
}

// ---- verification ----------------------------------------------------------------

namespace {

struct Verdict {
  bool ok = true;
  std::string why;
  bool fail(std::string reason) {
    ok = false;
    why = std::move(reason);
    return false;
  }
};

bool verifyFileTable(fb::Verifier& v, const std::uint8_t* field) {
  const auto* sub = reinterpret_cast<const fb::Table*>(field + fb::ReadScalar<fb::uoffset_t>(field));
  return sub->VerifyTableStart(v) && sub->VerifyOffset(v, kFileHash) &&
         v.VerifyString(sub->GetPointer<const fb::String*>(kFileHash)) &&
         sub->VerifyField<std::int64_t>(v, kFileSize, 8) && sub->VerifyOffset(v, kFileMime) &&
         v.VerifyString(sub->GetPointer<const fb::String*>(kFileMime)) && v.EndTable();
}

bool verifyColumn(fb::Verifier& v, const fb::Table* t, const ColumnSpec& c, fb::voffset_t vt) {
  switch (c.kind()) {
    case Kind::Integer: return t->VerifyField<std::int64_t>(v, vt, 8);
    case Kind::Boolean: return t->VerifyField<std::uint8_t>(v, vt, 1);
    case Kind::Text:
    case Kind::Json: return t->VerifyOffset(v, vt) && v.VerifyString(t->GetPointer<const fb::String*>(vt));
    case Kind::Blob:
      return t->VerifyOffset(v, vt) && v.VerifyVector(t->GetPointer<const fb::Vector<std::uint8_t>*>(vt));
    case Kind::File: {
      if (!t->VerifyOffset(v, vt)) return false;
      const int fo = fieldOffset(t, vt);
      return fo <= 0 || verifyFileTable(v, reinterpret_cast<const std::uint8_t*>(t) + fo);
    }
    default: return false;
  }
}

bool verify(const RowLayout& layout, std::span<const std::uint8_t> bytes, Verdict& out) {
  const TableSpec& spec = *layout.spec;
  if (bytes.size() < 2 * sizeof(fb::uoffset_t) || bytes.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return out.fail("row of " + std::to_string(bytes.size()) + " bytes is too short to be a FlatBuffers table");
  }
  fb::Verifier v(bytes.data(), bytes.size(), /*max_depth=*/8, /*max_tables=*/1024);
  if (v.VerifyOffset(0) == 0) return out.fail("root offset out of bounds");
  const fb::Table* t = rootTable(bytes.data());
  if (!t->VerifyTableStart(v)) return out.fail("malformed vtable");
  for (std::uint32_t i = 0; i < spec.columns.size(); ++i) {
    const ColumnSpec& c = spec.columns[i];
    const fb::voffset_t vt = layout.vtableOffset(i);
    if (!verifyColumn(v, t, c, vt)) return out.fail("column '" + c.name + "' is not a valid " + std::string(kindName(c.kind())));
    const int fo = fieldOffset(t, vt);
    if (i == layout.id_column) {
      if (fo > 0) return out.fail("the id is stored inside the row; it belongs in the key");
      continue;
    }
    if (fo == 0 && !c.nullable) return out.fail("NOT NULL column '" + c.name + "' is missing");
    // Beyond the vtable the row reads the column's fill value: a NOT NULL
    // column only has one when a migration added it with a default, so a
    // short vtable elsewhere would read NULL where NULL is not allowed.
    if (fo < 0 && !c.nullable && (i >= layout.fill.size() || layout.fill[i].isNull())) {
      return out.fail("NOT NULL column '" + c.name + "' is missing (the row's vtable ends before it)");
    }
    if (fo > 0 && c.kind() == Kind::Json) {
      boost::system::error_code ec;
      (void)boost::json::parse(readString(reinterpret_cast<const std::uint8_t*>(t) + fo), ec);
      if (ec) return out.fail("json column '" + c.name + "' holds malformed JSON");
    }
  }
  // Fields in slots this schema does not know come from another schema.
  const std::uint8_t* vtable = t->GetVTable();
  const auto vtsize = fb::ReadScalar<fb::voffset_t>(vtable);
  for (fb::voffset_t vt = static_cast<fb::voffset_t>(fb::FieldIndexToOffset(layout.max_slot + 1)); vt < vtsize;
       vt += sizeof(fb::voffset_t)) {
    if (fb::ReadScalar<fb::voffset_t>(vtable + vt) != 0) return out.fail("field in unknown slot " + std::to_string(vt / 2 - 2));
  }
  v.EndTable();
  return true;
}

}  // namespace

bool checkRow(const RowLayout& layout, std::span<const std::uint8_t> bytes, std::string* why) {
  Verdict verdict;
  const bool ok = verify(layout, bytes, verdict);
  if (!ok && why != nullptr) *why = verdict.why;
  return ok;
}

void verifyRow(const RowLayout& layout, std::span<const std::uint8_t> bytes) {
  std::string why;
  if (!checkRow(layout, bytes, &why)) {
    throw Error(ErrorCode::CorruptRow, "malformed row for table '" + layout.spec->name + "': " + why);
  }
}

std::vector<Value> decodeRow(const RowView& row) {
  std::vector<Value> out;
  const auto n = row.table().columns.size();
  out.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) out.push_back(row.get(i));
  return out;
}

}  // namespace plasma::detail

// ---- RowView ---------------------------------------------------------------------

namespace plasma {

using detail::fieldOffset;
using detail::rootTable;
namespace fb = flatbuffers;

const TableSpec& RowView::table() const noexcept { return *layout_->spec; }

std::optional<std::int64_t> RowView::fillInt(std::uint32_t i) const {
  const Value& f = layout_->fill[i];
  return f.isNull() ? std::nullopt : std::optional<std::int64_t>(f.asInt());
}

std::optional<bool> RowView::fillBool(std::uint32_t i) const {
  const Value& f = layout_->fill[i];
  return f.isNull() ? std::nullopt : std::optional<bool>(f.asBool());
}

std::optional<std::string_view> RowView::fillText(std::uint32_t i) const {
  const Value& f = layout_->fill[i];
  if (f.isNull()) return std::nullopt;
  return f.kind() == Kind::Json ? std::string_view(f.asJson()) : std::string_view(f.asText());
}

std::optional<std::span<const std::uint8_t>> RowView::fillBlob(std::uint32_t i) const {
  const Value& f = layout_->fill[i];
  if (f.isNull()) return std::nullopt;
  return std::span<const std::uint8_t>(f.asBlob());
}

std::optional<FileRef> RowView::get(const Column<Kind::File>& c) const {
  Value v = get(c.index());
  if (v.isNull()) return std::nullopt;
  return v.asFile();
}

bool RowView::isNull(AnyColumn c) const { return get(c).isNull(); }

Value RowView::get(AnyColumn c) const {
  if (c.table != layout_->spec) {
    throw Error(ErrorCode::UnknownColumn, "column " + c.table->name + "." + c.spec().name +
                                              " is not a column of table '" + layout_->spec->name + "'");
  }
  return get(c.index);
}

Value RowView::get(std::uint32_t i) const {
  const TableSpec& spec = *layout_->spec;
  if (i >= spec.columns.size()) {
    throw Error(ErrorCode::UnknownColumn, "table '" + spec.name + "' has no column #" + std::to_string(i));
  }
  switch (spec.columns[i].kind()) {
    case Kind::Integer: {
      auto v = getInt(i);
      return v ? Value(*v) : Value();
    }
    case Kind::Boolean: {
      auto v = getBool(i);
      return v ? Value(*v) : Value();
    }
    case Kind::Text: {
      auto v = getText(i);
      return v ? Value(std::string(*v)) : Value();
    }
    case Kind::Json: {
      auto v = getText(i);
      return v ? Value::json(std::string(*v)) : Value();
    }
    case Kind::Blob: {
      auto v = getBlob(i);
      return v ? Value(Bytes(v->begin(), v->end())) : Value();
    }
    case Kind::File: {
      const fb::Table* t = rootTable(data_);
      const int fo = fieldOffset(t, layout_->vtableOffset(i));
      if (fo < 0) return layout_->fill[i];
      if (fo == 0) return Value();
      const auto* field = reinterpret_cast<const std::uint8_t*>(t) + fo;
      const auto* sub = reinterpret_cast<const fb::Table*>(field + fb::ReadScalar<fb::uoffset_t>(field));
      FileRef f;
      if (const auto* h = sub->GetPointer<const fb::String*>(4)) f.hash = h->str();
      f.size = sub->GetField<std::int64_t>(6, 0);
      if (const auto* m = sub->GetPointer<const fb::String*>(8)) f.mime = m->str();
      return Value(std::move(f));
    }
    default: return Value();
  }
}

OwnedRow RowView::toOwned() const {
  return OwnedRow(layout_->shared_from_this(), std::string(id_),
                  std::string(reinterpret_cast<const char*>(data_), size_));
}

namespace {

boost::json::value valueToJson(const Value& v) {
  switch (v.kind()) {
    case Kind::Null: return nullptr;
    case Kind::Integer: return v.asInt();
    case Kind::Real: return v.asReal();
    case Kind::Boolean: return v.asBool();
    case Kind::Text: return boost::json::string(v.asText());
    case Kind::Json: {
      boost::system::error_code ec;
      auto parsed = parseJsonExact(v.asJson(), ec);
      return ec ? boost::json::value(boost::json::string(v.asJson())) : parsed;
    }
    case Kind::Blob: {
      const auto& b = v.asBlob();
      std::string out(sodium_base64_encoded_len(b.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
      sodium_bin2base64(out.data(), out.size(), b.data(), b.size(), sodium_base64_VARIANT_ORIGINAL);
      out.resize(std::strlen(out.c_str()));
      return boost::json::string(out);
    }
    case Kind::File: {
      boost::json::object o;
      o["hash"] = v.asFile().hash;
      o["size"] = v.asFile().size;
      o["mime"] = v.asFile().mime;
      return o;
    }
  }
  return nullptr;
}

}  // namespace

boost::json::object RowView::toJson() const {
  boost::json::object out;
  const TableSpec& spec = *layout_->spec;
  for (std::uint32_t i = 0; i < spec.columns.size(); ++i) out[spec.columns[i].name] = valueToJson(get(i));
  return out;
}

boost::json::object OwnedRow::toJson() const { return view().toJson(); }

bool operator==(const OwnedRow& a, const OwnedRow& b) {
  if (a.layout_->spec != b.layout_->spec || a.id_ != b.id_) return false;
  return detail::decodeRow(a.view()) == detail::decodeRow(b.view());
}

}  // namespace plasma
