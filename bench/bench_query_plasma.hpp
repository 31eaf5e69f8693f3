// bench/bench_query_plasma.hpp — the query benchmarks' tables on plasma and
// their loader, shared by bench_query_plasma.cpp and bench/experiments/.
#pragma once

#include <plasma/plasma.hpp>

#include "bench_common.hpp"

namespace plasma_bench {

struct Customers : plasma::Table {
  Customers() : Table("customers") {}
  plasma::TextColumn id{this, plasma::id()};
  plasma::TextColumn name{this, plasma::text("name")};
  plasma::IntColumn region{this, plasma::integer("region")};
};

struct Orders : plasma::Table {
  Orders() : Table("orders") {
    index("orders_customer", {customerId});
    index("orders_created", {createdAt});
  }
  plasma::TextColumn id{this, plasma::id()};
  plasma::TextColumn customerId{this, plasma::text("customerId")};
  plasma::IntColumn amount{this, plasma::integer("amount")};
  plasma::IntColumn status{this, plasma::integer("status")};
  plasma::IntColumn createdAt{this, plasma::integer("createdAt")};
  plasma::TextColumn note{this, plasma::text("note")};
};

const Customers& customers();
const Orders& orders();
const plasma::Schema& querySchema();
// Loads the QueryDataset (customers, then orders in kLoadBatchRows
// transactions) into an empty database of querySchema().
void loadQueryData(plasma::Database& db, const QueryDataset& data);

}  // namespace plasma_bench
