// engine/json_parse.hpp — JSON text to boost::json::value, with every
// number that has a fraction or an exponent read correctly rounded.
//
// Boost.JSON 1.81 (Debian bookworm's) converts such numbers with a fast
// method that is often one unit in the last place off: of a million random
// doubles written in their shortest form (what JavaScript, Boost.JSON itself
// and std::to_chars write), it read back about one in five as a neighbour
// (-97570.19231092371 as -97570.19231092373). A number in a mutation's args,
// a JSON column or a presence state would then change on its way through
// plasma. parseJsonExact uses Boost.JSON's own parser and value builder and
// reads each such number again with std::from_chars, so a double survives any
// number of text -> value -> text trips unchanged.
//
// Same contract as boost::json::parse: the same grammar and options; the
// error_code form reports malformed text in `ec`, the other throws
// boost::system::system_error.
#pragma once

#include <string_view>

#include <boost/json/parse_options.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

namespace plasma {

boost::json::value parseJsonExact(std::string_view text, boost::system::error_code& ec,
                                  boost::json::storage_ptr sp = {},
                                  const boost::json::parse_options& options = {});
boost::json::value parseJsonExact(std::string_view text, boost::json::storage_ptr sp = {},
                                  const boost::json::parse_options& options = {});

}  // namespace plasma
