// tests/all_kinds.hpp — a table with one column of every type and modifier
// shape, for tests that must cover each kind (row codec, JSON encodings).
#pragma once

#include <string>

#include <plasma/plasma.hpp>

namespace plasma_test {

struct AllKinds : plasma::Table {
  explicit AllKinds(std::string name) : Table(std::move(name)) {}
  plasma::TextColumn id{this, plasma::id()};
  plasma::TextColumn title{this, plasma::text("title")};
  plasma::IntColumn count{this, plasma::integer("count").defaultTo(3)};
  plasma::IntColumn big{this, plasma::bigint("big").nullable()};
  plasma::BoolColumn flag{this, plasma::boolean("flag").nullable()};
  plasma::BlobColumn data{this, plasma::blob("data").nullable()};
  plasma::JsonColumn meta{this, plasma::json("meta").nullable()};
  plasma::FileColumn attachment{this, plasma::file("attachment").nullable()};
  plasma::JsonColumn likes{this, plasma::crdtCounter("likes").nullable()};
  plasma::JsonColumn score{this, plasma::crdtPnCounter("score").nullable()};
  plasma::JsonColumn status{this, plasma::crdtLwwRegister("status").nullable()};
  plasma::JsonColumn tags{this, plasma::crdtOrSet("tags").nullable()};
};

}  // namespace plasma_test
