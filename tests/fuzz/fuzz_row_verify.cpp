// fuzz_row_verify: the schema-driven row verifier on arbitrary bytes (what a
// peer's FlatBuffers pull response or a damaged store hands the engine).
// Contract (engine/row_codec.hpp): checkRow and verifyRow agree; verifyRow
// refuses with Error(CorruptRow) only; a row they accept reads without
// crashing, converts to JSON, and that JSON converts back (valueFromJson per
// column) into a row the verifier accepts with the same JSON form.
// The first byte picks the layout (fill values or not); the rest is the row.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "fuzz_row_common.hpp"

using namespace plasma;
using plasma_fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const auto plain = plasma_fuzz::kindsLayout(false);
  static const auto filled = plasma_fuzz::kindsLayout(true);
  const detail::RowLayout& layout = (data[0] & 1) ? *filled : *plain;
  // A copy of exactly `size - 1` bytes, so ASan sees every read past the end.
  std::vector<std::uint8_t> row(data + 1, data + size);
  const std::span<const std::uint8_t> bytes(row.data(), row.size());

  std::string why;
  const bool ok = detail::checkRow(layout, bytes, &why);
  try {
    detail::verifyRow(layout, bytes);
    check(ok);
  } catch (const Error& e) {
    check(!ok && e.code() == ErrorCode::CorruptRow && !why.empty());
    return 0;
  }
  const RowView view(&layout, row.data(), row.size(), "row-1");
  const std::vector<Value> values = detail::decodeRow(view);
  check(values.size() == layout.spec->columns.size());
  const boost::json::object json = view.toJson();
  // A json column whose text holds a number past a double's range (1e717)
  // is well-formed, so the verifier accepts it (a store written before
  // writes refused it may hold one), but its JSON form holds infinity, which
  // valueFromJson refuses as writes now do: no round trip for it.
  if (!detail::jsonNumbersFinite(json)) return 0;
  const boost::json::object again = plasma_fuzz::reencode(layout, "row-1", json);
  if (!plasma_fuzz::sameJson(again, json)) {
    std::fprintf(stderr, "row JSON changed on a round trip:\n%s\n%s\n", boost::json::serialize(json).c_str(),
                 boost::json::serialize(again).c_str());
    std::abort();
  }
  return 0;
}
