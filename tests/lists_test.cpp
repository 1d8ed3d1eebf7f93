// Tests of idem::append and idem::removeIf (include/idem/lists.h).
#include <capnp/message.h>
#include <idem/canonical.h>
#include <idem/lists.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "tests/lists_test.capnp.h"

namespace {

using idem::test::Item;
using idem::test::Lists;

constexpr auto kItems = idem::listField(&Lists::Builder::disownItems, &Lists::Builder::adoptItems);
constexpr auto kNumbers =
    idem::listField(&Lists::Builder::disownNumbers, &Lists::Builder::adoptNumbers);
constexpr auto kNames = idem::listField(&Lists::Builder::disownNames, &Lists::Builder::adoptNames);

std::vector<std::string> namesOf(Lists::Reader lists) {
  std::vector<std::string> names;
  for (Item::Reader item : lists.getItems()) {
    names.push_back(std::string(item.getName()) + ":" + std::to_string(item.getCount()));
  }
  return names;
}

}  // namespace

TEST_CASE("append grows a list field that was never set", "[lists][unit]") {
  capnp::MallocMessageBuilder message;
  Lists::Builder lists = message.initRoot<Lists>();
  REQUIRE_FALSE(lists.hasItems());

  Item::Builder first = idem::append(lists, kItems);
  first.setName("a");
  first.setCount(1);
  Item::Builder second = idem::append(lists, kItems);
  second.setName("b");
  second.setCount(2);

  CHECK(namesOf(lists) == std::vector<std::string>{"a:1", "b:2"});
}

TEST_CASE("append keeps the elements already there when the list must move", "[lists][unit]") {
  capnp::MallocMessageBuilder message;
  Lists::Builder lists = message.initRoot<Lists>();
  idem::append(lists, kItems).setName("a");
  lists.setNames({"allocated after the items, so they cannot grow in place"});
  idem::append(lists, kItems).setName("b");
  idem::append(lists, kItems).setName("c");
  CHECK(namesOf(lists) == std::vector<std::string>{"a:0", "b:0", "c:0"});
}

TEST_CASE("removeIf removes the matching elements and keeps the order of the others",
          "[lists][unit]") {
  capnp::MallocMessageBuilder message;
  Lists::Builder lists = message.initRoot<Lists>();
  for (const char* name : {"a", "x", "b", "x", "c"}) idem::append(lists, kItems).setName(name);

  CHECK(idem::removeIf(lists, kItems, [](Item::Reader i) { return i.getName() == "x"; }) == 2);
  CHECK(namesOf(lists) == std::vector<std::string>{"a:0", "b:0", "c:0"});
  CHECK(idem::removeIf(lists, kItems, [](Item::Reader) { return false; }) == 0);
  CHECK(idem::removeIf(lists, kItems, [](Item::Reader) { return true; }) == 3);
  CHECK(lists.getItems().size() == 0);
  CHECK(idem::removeIf(lists, kItems, [](Item::Reader) { return true; }) == 0);
}

TEST_CASE("append and removeIf work on lists of numbers and of text", "[lists][unit]") {
  capnp::MallocMessageBuilder message;
  Lists::Builder lists = message.initRoot<Lists>();
  for (std::uint32_t n : {1u, 2u, 3u, 4u}) idem::append(lists, kNumbers, n);
  idem::append(lists, kNames, "one");
  idem::append(lists, kNames, "two");
  idem::append(lists, kNames, "three");

  CHECK(idem::removeIf(lists, kNumbers, [](std::uint32_t n) { return n % 2 == 0; }) == 2);
  CHECK(idem::removeIf(lists, kNames, [](capnp::Text::Reader t) { return t == "one"; }) == 1);

  auto numbers = lists.asReader().getNumbers();
  REQUIRE(numbers.size() == 2);
  CHECK(numbers[0] == 1);
  CHECK(numbers[1] == 3);
  auto names = lists.asReader().getNames();
  REQUIRE(names.size() == 2);
  CHECK(names[0] == "two");
  CHECK(names[1] == "three");
}

TEST_CASE("a list edited in place canonicalizes like the same list built directly",
          "[lists][unit]") {
  capnp::MallocMessageBuilder edited;
  Lists::Builder lists = edited.initRoot<Lists>();
  for (const char* name : {"a", "x", "b"}) idem::append(lists, kItems).setName(name);
  idem::removeIf(lists, kItems, [](Item::Reader i) { return i.getName() == "x"; });

  capnp::MallocMessageBuilder direct;
  auto items = direct.initRoot<Lists>().initItems(2);
  items[0].setName("a");
  items[1].setName("b");

  CHECK(idem::canonicalOf(lists.asReader()).asBytes() ==
        idem::canonicalOf(direct.getRoot<Lists>().asReader()).asBytes());
}
