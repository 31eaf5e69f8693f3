#include "plasma/mutators.hpp"

#include "plasma/args.hpp"

namespace plasma {

void throwMutatorNotFound(std::string_view name) {
  throw Error(ErrorCode::MutatorNotFound, "no mutator named '" + std::string(name) + "'");
}

void checkMutatorName(std::string_view name) {
  if (name.empty()) throw Error(ErrorCode::InvalidArgument, "a mutator name must not be empty");
}

namespace detail {

void throwArgError(std::string_view mutator, std::string_view path, std::string_view what) {
  if (path.empty()) {
    throw Error(ErrorCode::MutatorArgs, "mutator '" + std::string(mutator) + "': arguments " + std::string(what));
  }
  throw Error(ErrorCode::MutatorArgs,
              "mutator '" + std::string(mutator) + "': argument '" + std::string(path) + "' " + std::string(what));
}

std::string_view jsonKindName(const boost::json::value& v) noexcept {
  switch (v.kind()) {
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return "boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64: return "integer";
    case boost::json::kind::double_: return "number";
    case boost::json::kind::string: return "string";
    case boost::json::kind::array: return "array";
    case boost::json::kind::object: return "object";
  }
  return "unknown";
}

}  // namespace detail
}  // namespace plasma
