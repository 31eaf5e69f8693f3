// fuzz_row_json: a row's JSON form (what JSON pushes and JSON-object inserts
// carry) into column values and a stored row. Contract
// (engine/json_value.hpp): valueFromJson returns a value or throws
// Error(TypeMismatch) naming the column; a row built from accepted values
// passes the verifier, and its JSON form converts back to the same row.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "engine/json_parse.hpp"
#include "fuzz_row_common.hpp"

using namespace plasma;
using plasma_fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto layout = plasma_fuzz::kindsLayout(false);
  const TableSpec& spec = *layout->spec;
  boost::json::error_code ec;
  const boost::json::value v =  // as the node reads a JSON body
      parseJsonExact(std::string_view(reinterpret_cast<const char*>(data), size), ec);
  if (ec || !v.is_object()) return 0;
  const boost::json::object& in = v.as_object();

  // Every column from the input; a missing non-null column gets its default
  // (as insert does), a missing nullable one NULL.
  std::vector<Value> values;
  try {
    for (const auto& c : spec.columns) {
      const boost::json::value* cv = in.if_contains(c.name);
      if (cv != nullptr) {
        values.push_back(detail::valueFromJson(spec, c, *cv));
      } else if (c.default_value) {
        values.push_back(*c.default_value);
      } else {
        values.push_back(Value());
      }
    }
  } catch (const Error& e) {
    check(e.code() == ErrorCode::TypeMismatch || e.code() == ErrorCode::InvalidArgument);
    return 0;
  }
  for (std::size_t i = 1; i < values.size(); ++i) {
    if (values[i].isNull() && !spec.columns[i].nullable) return 0;  // insert refuses these first
  }
  // The id is the row's key, not part of its bytes: the row is read back under its own.
  const std::string id = "row-1";
  detail::RowEncoder enc;
  const auto bytes = enc.encode(*layout, values);
  const std::vector<std::uint8_t> row(bytes.begin(), bytes.end());
  std::string why;
  if (!detail::checkRow(*layout, row, &why)) {
    std::fprintf(stderr, "a row encoded from accepted values is refused: %s\n", why.c_str());
    std::abort();
  }
  const boost::json::object json = RowView(layout.get(), row.data(), row.size(), id).toJson();
  const boost::json::object again = plasma_fuzz::reencode(*layout, id, json);
  if (!plasma_fuzz::sameJson(again, json)) {
    std::fprintf(stderr, "row JSON changed on a round trip:\n%s\n%s\n", boost::json::serialize(json).c_str(),
                 boost::json::serialize(again).c_str());
    std::abort();
  }
  return 0;
}
