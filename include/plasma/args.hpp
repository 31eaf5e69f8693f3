// plasma/args.hpp — mutator arguments: JSON <-> described C++ structs.
//
// An argument struct is described with Boost.Describe:
//
//   struct MarkDoneArgs { std::string id; std::int64_t updatedAt; };
//   BOOST_DESCRIBE_STRUCT(MarkDoneArgs, (), (id, updatedAt))
//
// argsFromJson walks the described members and reads each from the JSON
// object with Boost.JSON. A missing member (unless std::optional) or a value
// of the wrong type raises Error(MutatorArgs) naming the mutator and the
// field path ("mutator 'markDone': argument 'updatedAt' must be an integer,
// got string"). Unknown extra fields are ignored.
//
// Member types: std::string, integral types (range-checked), bool, double,
// std::optional<T>, std::vector<T>, boost::json::value / object, and nested
// described structs.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <boost/mp11/algorithm.hpp>

#include "plasma/error.hpp"

namespace plasma {

namespace detail {

[[noreturn]] void throwArgError(std::string_view mutator, std::string_view path, std::string_view what);
std::string_view jsonKindName(const boost::json::value& v) noexcept;

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <class T>
struct IsVector : std::false_type {};
template <class T, class A>
struct IsVector<std::vector<T, A>> : std::true_type {};

struct ArgPath {
  std::string_view mutator;
  std::string path;
};

template <class T>
T readArg(const boost::json::value& v, const ArgPath& at);

template <class T>
T readDescribed(const boost::json::value& v, const ArgPath& at) {
  if (!v.is_object()) throwArgError(at.mutator, at.path, std::string("must be an object, got ") + std::string(jsonKindName(v)));
  const auto& obj = v.get_object();
  T out{};
  using Members = boost::describe::describe_members<T, boost::describe::mod_public>;
  boost::mp11::mp_for_each<Members>([&](auto member) {
    using M = std::remove_cvref_t<decltype(out.*member.pointer)>;
    std::string path = at.path.empty() ? std::string(member.name) : at.path + "." + member.name;
    const boost::json::value* field = obj.if_contains(member.name);
    if (field == nullptr || (field->is_null() && IsOptional<M>::value)) {
      if constexpr (IsOptional<M>::value) {
        out.*member.pointer = std::nullopt;
        return;
      } else {
        throwArgError(at.mutator, path, "is missing");
      }
    }
    out.*member.pointer = readArg<M>(*field, ArgPath{at.mutator, std::move(path)});
  });
  return out;
}

template <class T>
T readArg(const boost::json::value& v, const ArgPath& at) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) throwArgError(at.mutator, at.path, std::string("must be a string, got ") + std::string(jsonKindName(v)));
    return std::string(v.get_string());
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_bool()) throwArgError(at.mutator, at.path, std::string("must be a boolean, got ") + std::string(jsonKindName(v)));
    return v.get_bool();
  } else if constexpr (std::is_integral_v<T>) {
    std::int64_t i = 0;
    if (v.is_int64()) {
      i = v.get_int64();
    } else if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      i = static_cast<std::int64_t>(v.get_uint64());
    } else if (v.is_double() && v.get_double() == static_cast<double>(static_cast<std::int64_t>(v.get_double())) &&
               v.get_double() >= -9.2e18 && v.get_double() <= 9.2e18) {
      i = static_cast<std::int64_t>(v.get_double());  // JSON numbers like 3.0 from JavaScript
    } else {
      throwArgError(at.mutator, at.path, std::string("must be an integer, got ") + std::string(jsonKindName(v)));
    }
    if (i < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
        (i > 0 && static_cast<std::uint64_t>(i) > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))) {
      throwArgError(at.mutator, at.path, "is out of range for its type");
    }
    return static_cast<T>(i);
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) throwArgError(at.mutator, at.path, std::string("must be a number, got ") + std::string(jsonKindName(v)));
    return static_cast<T>(v.to_number<double>());
  } else if constexpr (std::is_same_v<T, boost::json::value>) {
    return v;
  } else if constexpr (std::is_same_v<T, boost::json::object>) {
    if (!v.is_object()) throwArgError(at.mutator, at.path, std::string("must be an object, got ") + std::string(jsonKindName(v)));
    return v.get_object();
  } else if constexpr (IsOptional<T>::value) {
    if (v.is_null()) return T{};
    return T{readArg<typename T::value_type>(v, at)};
  } else if constexpr (IsVector<T>::value) {
    if (!v.is_array()) throwArgError(at.mutator, at.path, std::string("must be an array, got ") + std::string(jsonKindName(v)));
    T out;
    const auto& arr = v.get_array();
    out.reserve(arr.size());
    for (std::size_t i = 0; i < arr.size(); ++i) {
      out.push_back(readArg<typename T::value_type>(arr[i], ArgPath{at.mutator, at.path + "[" + std::to_string(i) + "]"}));
    }
    return out;
  } else if constexpr (boost::describe::has_describe_members<T>::value) {
    return readDescribed<T>(v, at);
  } else {
    static_assert(sizeof(T) == 0, "unsupported mutator argument member type");
  }
}

template <class T>
boost::json::value writeArg(const T& v) {
  if constexpr (IsOptional<T>::value) {
    return v ? writeArg(*v) : boost::json::value(nullptr);
  } else if constexpr (IsVector<T>::value) {
    boost::json::array arr;
    for (const auto& e : v) arr.push_back(writeArg(e));
    return arr;
  } else if constexpr (boost::describe::has_describe_members<T>::value) {
    boost::json::object obj;
    using Members = boost::describe::describe_members<T, boost::describe::mod_public>;
    boost::mp11::mp_for_each<Members>([&](auto member) {
      const auto& field = v.*member.pointer;
      if constexpr (IsOptional<std::remove_cvref_t<decltype(field)>>::value) {
        if (!field) return;
      }
      obj[member.name] = writeArg(field);
    });
    return obj;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return boost::json::value(v);
  } else {
    return boost::json::value(v);
  }
}

}  // namespace detail

// Reads mutator arguments of type T from JSON; errors name `mutator`.
template <class T>
T argsFromJson(const boost::json::value& v, std::string_view mutator) {
  static_assert(boost::describe::has_describe_members<T>::value,
                "mutator argument types must be described with BOOST_DESCRIBE_STRUCT");
  return detail::readDescribed<T>(v, detail::ArgPath{mutator, {}});
}

// The JSON form of described arguments (optional members that are empty are left out).
template <class T>
boost::json::object argsToJson(const T& args) {
  return detail::writeArg(args).as_object();
}

}  // namespace plasma
