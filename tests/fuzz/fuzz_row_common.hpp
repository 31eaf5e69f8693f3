// tests/fuzz/fuzz_row_common.hpp — the table the row fuzz targets use (one
// column of every kind, tests/all_kinds.hpp) and its row layout built the way
// a fresh store builds it (slot i for column i), plus the checks both targets
// share.
#pragma once

#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "all_kinds.hpp"
#include "engine/json_value.hpp"
#include "engine/row_codec.hpp"
#include "plasma/error.hpp"

namespace plasma_fuzz {

inline void check(bool ok) {
  if (!ok) std::abort();
}

inline const plasma_test::AllKinds& kindsTable() {
  static const plasma_test::AllKinds t{"kinds"};
  return t;
}

// fill: the values rows written before each column existed read (the
// column's default, as after an additive migration), or all NULL.
inline std::shared_ptr<plasma::detail::RowLayout> kindsLayout(bool with_fill) {
  const plasma::TableSpec& spec = kindsTable().spec();
  auto l = std::make_shared<plasma::detail::RowLayout>();
  l->spec = &spec;
  for (std::uint32_t i = 0; i < spec.columns.size(); ++i) {
    l->slot.push_back(static_cast<std::uint16_t>(i));
    l->fill.push_back(with_fill && spec.columns[i].default_value ? *spec.columns[i].default_value : plasma::Value());
  }
  l->max_slot = static_cast<std::uint16_t>(spec.columns.size() - 1);
  l->id_column = 0;
  return l;
}

// The row's JSON form back into column values (valueFromJson per column),
// re-encoded: the verifier must accept the result and its JSON form must be
// the same. Returns the re-encoded JSON.
inline boost::json::object reencode(const plasma::detail::RowLayout& layout, const std::string& id,
                                    const boost::json::object& json) {
  const plasma::TableSpec& spec = *layout.spec;
  std::vector<plasma::Value> values;
  for (const auto& c : spec.columns) {
    const boost::json::value* v = json.if_contains(c.name);
    check(v != nullptr);
    values.push_back(plasma::detail::valueFromJson(spec, c, *v));
  }
  plasma::detail::RowEncoder enc;
  const auto bytes = enc.encode(layout, values);
  const std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());
  std::string why;
  if (!plasma::detail::checkRow(layout, copy, &why)) std::abort();  // the engine's own row refused
  const plasma::RowView view(&layout, copy.data(), copy.size(), id);
  return view.toJson();
}

}  // namespace plasma_fuzz
