// engine/json_parse.cpp — see json_parse.hpp.
#include "engine/json_parse.hpp"

#include <charconv>
#include <string>
#include <system_error>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/value_stack.hpp>
#include <boost/system/system_error.hpp>

namespace plasma {

namespace {

using boost::system::error_code;
using sv = boost::json::string_view;

// Builds the value as Boost.JSON's own parser does (value_stack); only
// on_double differs.
class Builder {
 public:
  static constexpr std::size_t max_object_size = boost::json::object::max_size();
  static constexpr std::size_t max_array_size = boost::json::array::max_size();
  static constexpr std::size_t max_key_size = boost::json::string::max_size();
  static constexpr std::size_t max_string_size = boost::json::string::max_size();

  explicit Builder(boost::json::storage_ptr sp) { stack_.reset(std::move(sp)); }

  boost::json::value release() { return stack_.release(); }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) { return true; }
  bool on_object_end(std::size_t n, error_code&) {
    stack_.push_object(n);
    return true;
  }
  bool on_array_begin(error_code&) { return true; }
  bool on_array_end(std::size_t n, error_code&) {
    stack_.push_array(n);
    return true;
  }
  bool on_key_part(sv s, std::size_t, error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_key(sv s, std::size_t, error_code&) {
    stack_.push_key(s);
    return true;
  }
  bool on_string_part(sv s, std::size_t, error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_string(sv s, std::size_t, error_code&) {
    stack_.push_string(s);
    return true;
  }
  // A number's text arrives in parts when it spans two buffers (not with
  // the single buffer parseJsonExact() passes, but the parser allows it).
  bool on_number_part(sv s, error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, sv, error_code&) {
    number_.clear();
    stack_.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, sv, error_code&) {
    number_.clear();
    stack_.push_uint64(u);
    return true;
  }
  // `d` is Boost's approximation; the text read again is exact. Text out
  // of a double's range (1e999) keeps Boost's value (infinity), which the
  // callers that must refuse it check for.
  bool on_double(double d, sv last, error_code&) {
    std::string_view text(last.data(), last.size());
    if (!number_.empty()) {
      number_.append(last.data(), last.size());
      text = number_;
    }
    double exact = 0;
    const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), exact);
    if (err == std::errc() && end == text.data() + text.size()) d = exact;
    number_.clear();
    stack_.push_double(d);
    return true;
  }
  bool on_bool(bool b, error_code&) {
    stack_.push_bool(b);
    return true;
  }
  bool on_null(error_code&) {
    stack_.push_null();
    return true;
  }
  bool on_comment_part(sv, error_code&) { return true; }
  bool on_comment(sv, error_code&) { return true; }

 private:
  boost::json::value_stack stack_;
  std::string number_;
};

}  // namespace

boost::json::value parseJsonExact(std::string_view text, error_code& ec, boost::json::storage_ptr sp,
                                  const boost::json::parse_options& options) {
  boost::json::basic_parser<Builder> parser(options, std::move(sp));
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (ec) return nullptr;
  if (used < text.size()) {
    ec = boost::json::error::extra_data;
    return nullptr;
  }
  return parser.handler().release();
}

boost::json::value parseJsonExact(std::string_view text, boost::json::storage_ptr sp,
                                  const boost::json::parse_options& options) {
  error_code ec;
  boost::json::value v = parseJsonExact(text, ec, std::move(sp), options);
  if (ec) throw boost::system::system_error(ec);
  return v;
}

}  // namespace plasma
