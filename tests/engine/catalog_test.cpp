// engine/catalog.hpp: the catalog stored in `_meta` is validated when read —
// a damaged or foreign one is refused with CorruptRow naming what is wrong.
#include <catch2/catch.hpp>

#include <cstdint>
#include <span>
#include <string>

#include <flatbuffers/flatbuffers.h>

#include "engine/catalog.hpp"
#include "plasma/error.hpp"
#include "plasma/fbs/catalog_generated.h"

using namespace plasma;

namespace {

// A one-table, one-column catalog with the given raw type and onDelete bytes.
std::string catalogBytes(std::uint8_t type, std::uint8_t on_delete) {
  flatbuffers::FlatBufferBuilder b;
  const auto column = fbs::CreateCatalogColumnDirect(b, "owner", type, 4, true, false, false, nullptr, nullptr,
                                                     "users", on_delete);
  std::vector<flatbuffers::Offset<fbs::CatalogColumn>> columns{column};
  const auto table = fbs::CreateCatalogTableDirect(b, "todos", &columns);
  std::vector<flatbuffers::Offset<fbs::CatalogTable>> tables{table};
  b.Finish(fbs::CreateCatalogDirect(b, 1, "v1", &tables));
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

detail::Catalog decode(const std::string& bytes) {
  return detail::decodeCatalog(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

}  // namespace

TEST_CASE("catalog: an unknown column type or onDelete action in a stored catalog is refused by name",
          "[engine][catalog]") {
  const detail::Catalog ok = decode(catalogBytes(static_cast<std::uint8_t>(ColumnType::Text),
                                                 static_cast<std::uint8_t>(OnDelete::SetNull)));
  REQUIRE(ok.tables.size() == 1);
  REQUIRE(ok.tables[0].columns.size() == 1);
  CHECK(ok.tables[0].columns[0].type == ColumnType::Text);
  CHECK(ok.tables[0].columns[0].ref->on_delete == OnDelete::SetNull);
  CHECK(decode(catalogBytes(static_cast<std::uint8_t>(ColumnType::CrdtOrSet), 0)).tables[0].columns[0].type ==
        ColumnType::CrdtOrSet);

  auto refused = [](const std::string& bytes, const std::string& why) {
    try {
      (void)decode(bytes);
      FAIL("decoded: " + why);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::CorruptRow);
      CHECK_THAT(std::string(e.what()), Catch::Contains(why) && !Catch::Contains("malformed value"));
    }
  };
  refused(catalogBytes(static_cast<std::uint8_t>(ColumnType::CrdtOrSet) + 1, 0),
          "column 'owner' of table 'todos' has unknown type 12");
  refused(catalogBytes(200, 0), "unknown type 200");
  refused(catalogBytes(1, static_cast<std::uint8_t>(OnDelete::SetNull) + 1), "unknown onDelete action 4");
  refused("not a catalog at all", "not a valid FlatBuffers catalog");
}
