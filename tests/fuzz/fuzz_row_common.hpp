// tests/fuzz/fuzz_row_common.hpp — the table the row fuzz targets use (one
// column of every kind, tests/all_kinds.hpp) and its row layout built the way
// a fresh store builds it (slot i for column i), plus the checks both targets
// share.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
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
    // A store only adds a NOT NULL column with a default (the migration
    // refuses one without), so such a column's fill is never NULL.
    const auto& c = spec.columns[i];
    if (!with_fill) {
      l->fill.push_back(plasma::Value());
    } else if (c.default_value) {
      l->fill.push_back(*c.default_value);
    } else if (!c.nullable && i != 0) {
      l->fill.push_back(plasma::Value("filled"));  // title, the one NOT NULL text column without a default
    } else {
      l->fill.push_back(plasma::Value());
    }
  }
  l->max_slot = static_cast<std::uint16_t>(spec.columns.size() - 1);
  l->id_column = 0;
  return l;
}

// Equal JSON. A double may come back as an integer of the same value (JSON
// text does not keep the kind) but must keep its value exactly: json column
// text is read with correct rounding (engine/json_parse.hpp).
inline bool sameJson(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() || b.is_double()) {
    if (!a.is_number() || !b.is_number()) return false;
    return a.to_number<double>() == b.to_number<double>();
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const auto &oa = a.get_object(), &ob = b.get_object();
    if (oa.size() != ob.size()) return false;
    for (const auto& [k, v] : oa) {
      const auto* w = ob.if_contains(k);
      if (w == nullptr || !sameJson(v, *w)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    const auto &xa = a.get_array(), &xb = b.get_array();
    if (xa.size() != xb.size()) return false;
    for (std::size_t i = 0; i < xa.size(); ++i) {
      if (!sameJson(xa[i], xb[i])) return false;
    }
    return true;
  }
  return a == b;
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
  if (!plasma::detail::checkRow(layout, copy, &why)) {  // the engine's own row refused
    std::fprintf(stderr, "re-encoded row refused: %s\nfrom JSON %s\n", why.c_str(), boost::json::serialize(json).c_str());
    std::abort();
  }
  const plasma::RowView view(&layout, copy.data(), copy.size(), id);
  return view.toJson();
}

}  // namespace plasma_fuzz
