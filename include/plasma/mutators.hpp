// plasma/mutators.hpp — the mutator registry.
//
//   struct Ctx { std::string userId; };
//   const auto mutators = plasma::defineMutators<Ctx>()
//       .define<MarkDoneArgs>("markDone", [](const plasma::MutatorCall<Ctx, MarkDoneArgs>& m) {
//         (void)m.db.update(todos).set({{todos.done, 1}, {todos.updatedAt, m.args.updatedAt}})
//             .where(plasma::eq(todos.id, m.args.id));
//       });
//
// A mutator receives {db, args, ctx, clientID, mutationID}. Its arguments
// are validated before it runs (args.hpp). All its writes happen in one
// transaction: if it throws, none of them remain.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "plasma/args.hpp"
#include "plasma/database.hpp"
#include "plasma/error.hpp"

namespace plasma {

template <class Ctx, class Args>
struct MutatorCall {
  Tx& db;
  const Args& args;
  const Ctx& ctx;
  std::string_view clientID;
  std::int64_t mutationID;
};

// What one invocation needs besides the mutator's name.
template <class Ctx>
struct MutatorInvocation {
  Tx& db;
  const boost::json::value& args;
  const Ctx& ctx;
  std::string_view clientID;
  std::int64_t mutationID = 0;
};

[[noreturn]] void throwMutatorNotFound(std::string_view name);
void checkMutatorName(std::string_view name);

template <class Ctx>
class Mutators {
 public:
  using Erased = std::function<void(const MutatorInvocation<Ctx>&)>;

  // Registers mutator `name` taking arguments of the described type Args.
  // Throws Error(InvalidArgument) for an empty or duplicate name.
  template <class Args, class F>
  Mutators&& define(std::string name, F fn) && {
    add<Args>(std::move(name), std::move(fn));
    return std::move(*this);
  }
  template <class Args, class F>
  Mutators& define(std::string name, F fn) & {
    add<Args>(std::move(name), std::move(fn));
    return *this;
  }

  bool contains(std::string_view name) const { return table_.find(name) != table_.end(); }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [n, _] : table_) out.push_back(n);
    return out;
  }

  // Validates the arguments and runs the mutator inside the caller's
  // transaction. Throws Error(MutatorNotFound) or Error(MutatorArgs) before
  // anything is written; whatever the mutator throws propagates.
  void run(std::string_view name, const MutatorInvocation<Ctx>& call) const {
    auto it = table_.find(name);
    if (it == table_.end()) throwMutatorNotFound(name);
    it->second(call);
  }

 private:
  template <class Args, class F>
  void add(std::string name, F fn) {
    checkMutatorName(name);
    if (contains(name)) throw Error(ErrorCode::InvalidArgument, "mutator '" + name + "' is defined twice");
    std::string label = name;
    table_.emplace(std::move(name), [fn = std::move(fn), label](const MutatorInvocation<Ctx>& call) {
      const Args args = argsFromJson<Args>(call.args, label);
      fn(MutatorCall<Ctx, Args>{call.db, args, call.ctx, call.clientID, call.mutationID});
    });
  }

  std::map<std::string, Erased, std::less<>> table_;
};

template <class Ctx>
Mutators<Ctx> defineMutators() {
  return {};
}

template <class Ctx>
struct InvokeOptions {
  Database& db;
  boost::json::value args;
  Ctx ctx;
  std::string clientID;
  std::int64_t mutationID = 0;
  std::string clientGroupID;
};

// Runs one mutator from server code (cron jobs, webhooks, admin tools) in its
// own transaction; its writes are logged with the given clientID/mutationID.
template <class Ctx>
void invokeMutator(const Mutators<Ctx>& mutators, std::string_view name, const InvokeOptions<Ctx>& o) {
  if (!mutators.contains(name)) throwMutatorNotFound(name);
  o.db.write(
      [&](Tx& tx) {
        mutators.run(name, MutatorInvocation<Ctx>{tx, o.args, o.ctx, o.clientID, o.mutationID});
      },
      WriteContext{o.clientGroupID, o.clientID, o.mutationID});
}

}  // namespace plasma
