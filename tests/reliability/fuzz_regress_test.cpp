// Regression tests for what the fuzz targets (tests/fuzz) found, each the
// smallest form of the finding, so the plain suite keeps checking it.
#include <flatbuffers/flatbuffers.h>

#include <memory>
#include <vector>

#include "all_kinds.hpp"
#include "engine/json_value.hpp"
#include "engine/row_codec.hpp"

#include <boost/json.hpp>
#include "test_util.hpp"

using namespace plasma;

namespace {

const plasma_test::AllKinds kinds{"kinds"};

std::shared_ptr<detail::RowLayout> layoutWithFill(std::vector<Value> fill) {
  const TableSpec& spec = kinds.spec();
  auto l = std::make_shared<detail::RowLayout>();
  l->spec = &spec;
  for (std::uint32_t i = 0; i < spec.columns.size(); ++i) l->slot.push_back(static_cast<std::uint16_t>(i));
  fill.resize(spec.columns.size());
  l->fill = std::move(fill);
  l->max_slot = static_cast<std::uint16_t>(spec.columns.size() - 1);
  l->id_column = 0;
  return l;
}

// A FlatBuffers table with no fields: its vtable ends before every column.
std::vector<std::uint8_t> emptyTable() {
  flatbuffers::FlatBufferBuilder b;
  const auto start = b.StartTable();
  b.Finish(flatbuffers::Offset<flatbuffers::Table>(b.EndTable(start)));
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

}  // namespace

TEST_CASE("fuzz regression: a row whose vtable ends before a NOT NULL column without a fill value is corrupt",
          "[reliability][fuzz][rowcodec]") {
  // fuzz_row_verify: such a row passed the verifier and read NULL for 'title' (NOT NULL).
  const auto bytes = emptyTable();
  const auto plain = layoutWithFill({});
  plasma_test::expectError([&] { detail::verifyRow(*plain, bytes); }, ErrorCode::CorruptRow,
                           {"kinds", "NOT NULL column 'title' is missing"});
  // Where the column was added by a migration with a default, the fill
  // stands in for it: the row is valid and reads that value.
  const auto filled = layoutWithFill({Value(), Value("added later"), Value(std::int64_t{3})});
  detail::verifyRow(*filled, bytes);
  const RowView row(filled.get(), bytes.data(), bytes.size(), "r1");
  CHECK(row.get(kinds.title) == std::optional<std::string_view>("added later"));
  CHECK(row.get(kinds.count) == std::optional<std::int64_t>(3));
}

TEST_CASE("fuzz regression: a json column refuses a number that overflows a double",
          "[reliability][fuzz][json]") {
  // fuzz_row_json: 10E511627776 parsed as infinity and was stored as the
  // text `Infinity`, which is not JSON — the engine's own verifier then
  // refused the row it had built.
  const TableSpec& spec = kinds.spec();
  const ColumnSpec& meta = spec.columns[kinds.meta.index()];
  for (const char* text : {R"({"a":10E511627776})", "[1, -1e999]", "1e400"}) {
    INFO(text);
    plasma_test::expectError([&] { (void)detail::valueFromJson(spec, meta, boost::json::parse(text)); },
                             ErrorCode::TypeMismatch, {"kinds.meta", "overflows"});
  }
  // Large finite numbers are fine and stay valid JSON.
  const Value ok = detail::valueFromJson(spec, meta, boost::json::parse(R"({"a":1.7976931348623157e308})"));
  boost::json::error_code ec;
  (void)boost::json::parse(ok.asJson(), ec);
  CHECK_FALSE(ec);
}
