// plasma-inspect: what a database directory holds, without the app's schema.
// Prints the stored catalog (tables, columns with their slots, indexes), the
// change-log head and the number of entries in every sub-database.
#include <iostream>
#include <string_view>

#include "engine/catalog.hpp"
#include "engine/keys.hpp"
#include "engine/lmdb.hpp"

using namespace plasma;

namespace {

constexpr std::string_view kUsage = "usage: plasma-inspect --dir DIR\n";

void printCatalog(const detail::Catalog& c) {
  std::cout << "schema version: " << c.schema_version << "\n";
  for (const auto& t : c.tables) {
    std::cout << "table " << t.name << (t.change_log_suppressed ? " (changeLogSuppressed)" : "") << "\n";
    for (const auto& col : t.columns) {
      std::cout << "  slot " << col.slot << "  " << col.name << " " << columnTypeName(col.type)
                << (col.nullable ? " nullable" : "") << (col.unique ? " unique" : "")
                << (col.default_value ? " default " + col.default_value->toString() : "")
                << (col.ref ? " ref " + col.ref->table + " onDelete " + std::string(onDeleteName(col.ref->on_delete)) : "")
                << "\n";
    }
    for (const auto& i : t.indexes) {
      std::cout << "  index " << i.name << (i.unique ? " unique" : "") << " (";
      for (std::size_t k = 0; k < i.columns.size(); ++k) std::cout << (k ? ", " : "") << i.columns[k];
      std::cout << ")\n";
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::string_view(argv[1]) != "--dir") {
    std::cerr << kUsage;
    return 2;
  }
  const std::filesystem::path dir = argv[2];
  if (!std::filesystem::exists(dir / "data.mdb")) {
    std::cerr << "plasma-inspect: no database in " << dir << "\n";
    return 1;
  }
  try {
    lmdb::Env env = lmdb::Env::open(dir, lmdb::EnvOptions{.flags = MDB_RDONLY});
    lmdb::Txn txn = lmdb::Txn::beginRead(env);
    if (auto meta = txn.openDbi("_meta", 0, false)) {
      if (auto v = txn.get(*meta, "catalog")) printCatalog(detail::decodeCatalog(lmdb::toSpan(*v)));
      if (auto h = txn.get(*meta, "head")) std::cout << "change-log head: " << keys::decodeU64(lmdb::toView(*h)) << "\n";
    }
    MDB_dbi main_dbi = *txn.openDbi("", 0, false);
    lmdb::Cursor cur(txn, main_dbi);
    std::cout << "sub-databases:\n";
    for (bool ok = cur.first(); ok; ok = cur.next()) {
      const std::string name(cur.key());
      auto dbi = txn.openDbi(name, name.starts_with("i/") ? MDB_DUPSORT : 0, false);
      if (dbi) std::cout << "  " << name << ": " << txn.entries(*dbi) << " entries\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "plasma-inspect: " << e.what() << "\n";
    return 1;
  }
}
