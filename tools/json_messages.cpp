// JSON conversion with capnp::JsonCodec, after a check of the JSON against the schema that
// explains a mismatch in the user's terms (the field's path, the type it expects, what it got).
#include "tools/json_messages.h"

#include <capnp/compat/json.h>
#include <capnp/dynamic.h>
#include <kj/exception.h>

#include <nlohmann/json.hpp>

#include "idem/error.h"

namespace idem::tools {

namespace {

std::string typeName(capnp::Type type) {
  switch (type.which()) {
    case capnp::schema::Type::VOID:
      return "null (Void)";
    case capnp::schema::Type::BOOL:
      return "true or false (Bool)";
    case capnp::schema::Type::INT8:
      return "an integer (Int8)";
    case capnp::schema::Type::INT16:
      return "an integer (Int16)";
    case capnp::schema::Type::INT32:
      return "an integer (Int32)";
    case capnp::schema::Type::INT64:
      return "an integer (Int64)";
    case capnp::schema::Type::UINT8:
      return "an integer >= 0 (UInt8)";
    case capnp::schema::Type::UINT16:
      return "an integer >= 0 (UInt16)";
    case capnp::schema::Type::UINT32:
      return "an integer >= 0 (UInt32)";
    case capnp::schema::Type::UINT64:
      return "an integer >= 0 (UInt64)";
    case capnp::schema::Type::FLOAT32:
      return "a number (Float32)";
    case capnp::schema::Type::FLOAT64:
      return "a number (Float64)";
    case capnp::schema::Type::TEXT:
      return "a string (Text)";
    case capnp::schema::Type::DATA:
      return "an array of bytes (Data)";
    case capnp::schema::Type::LIST:
      return "an array (List)";
    case capnp::schema::Type::ENUM:
      return "one of the names of enum " + std::string(type.asEnum().getShortDisplayName().cStr());
    case capnp::schema::Type::STRUCT:
      return "an object (" + std::string(type.asStruct().getShortDisplayName().cStr()) + ")";
    default:
      return "a value";
  }
}

std::string shown(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return std::string(value.type_name()) + " " + text;
}

// Integers in range of `type`; 64-bit ones may come as strings, as JsonCodec writes them.
bool fitsInteger(const nlohmann::json& value, capnp::Type type) {
  if (value.is_string()) {
    if (type.which() != capnp::schema::Type::INT64 && type.which() != capnp::schema::Type::UINT64) {
      return false;
    }
    try {
      return fitsInteger(nlohmann::json::parse(value.get<std::string>()), type);
    } catch (const nlohmann::json::exception&) {
      return false;
    }
  }
  if (!value.is_number_integer()) return false;
  auto between = [&](std::int64_t low, std::int64_t high) {
    if (value.is_number_unsigned()) return value.get<std::uint64_t>() <= std::uint64_t(high);
    const std::int64_t n = value.get<std::int64_t>();
    return n >= low && n <= high;
  };
  switch (type.which()) {
    case capnp::schema::Type::INT8:
      return between(INT8_MIN, INT8_MAX);
    case capnp::schema::Type::INT16:
      return between(INT16_MIN, INT16_MAX);
    case capnp::schema::Type::INT32:
      return between(INT32_MIN, INT32_MAX);
    case capnp::schema::Type::INT64:
      return !value.is_number_unsigned() || value.get<std::uint64_t>() <= INT64_MAX;
    case capnp::schema::Type::UINT8:
      return between(0, UINT8_MAX);
    case capnp::schema::Type::UINT16:
      return between(0, UINT16_MAX);
    case capnp::schema::Type::UINT32:
      return between(0, UINT32_MAX);
    default:
      return value.is_number_unsigned() || value.get<std::int64_t>() >= 0;  // UINT64
  }
}

void checkStruct(const nlohmann::json& object, capnp::StructSchema schema, const std::string& path);

// Throws idem::Error (permanent) naming `path`, the expected type and the value found.
void checkValue(const nlohmann::json& value, capnp::Type type, const std::string& path) {
  bool fits = true;
  switch (type.which()) {
    case capnp::schema::Type::VOID:
      fits = value.is_null();
      break;
    case capnp::schema::Type::BOOL:
      fits = value.is_boolean();
      break;
    case capnp::schema::Type::INT8:
    case capnp::schema::Type::INT16:
    case capnp::schema::Type::INT32:
    case capnp::schema::Type::INT64:
    case capnp::schema::Type::UINT8:
    case capnp::schema::Type::UINT16:
    case capnp::schema::Type::UINT32:
    case capnp::schema::Type::UINT64:
      fits = fitsInteger(value, type);
      break;
    case capnp::schema::Type::FLOAT32:
    case capnp::schema::Type::FLOAT64:
      fits = value.is_number() || value.is_string();
      break;
    case capnp::schema::Type::TEXT:
      fits = value.is_string();
      break;
    case capnp::schema::Type::DATA:
      fits = value.is_string() || value.is_array();
      for (const auto& byte : value.is_array() ? value : nlohmann::json::array()) {
        fits = fits && fitsInteger(byte, capnp::schema::Type::UINT8);
      }
      break;
    case capnp::schema::Type::LIST:
      fits = value.is_array();
      if (fits) {
        const capnp::Type element = type.asList().getElementType();
        for (std::size_t i = 0; i < value.size(); ++i) {
          checkValue(value[i], element, path + "[" + std::to_string(i) + "]");
        }
      }
      break;
    case capnp::schema::Type::ENUM:
      if (value.is_string()) {
        fits = type.asEnum().findEnumerantByName(value.get<std::string>()) != nullptr;
        if (!fits) {
          std::string known;
          for (auto e : type.asEnum().getEnumerants()) {
            known += (known.empty() ? "" : ", ") + std::string(e.getProto().getName().cStr());
          }
          fail(ErrorKind::kPermanent,
               path + ": expected " + typeName(type) + " (" + known + "), got " + shown(value));
        }
      } else {
        fits = value.is_number_unsigned();
      }
      break;
    case capnp::schema::Type::STRUCT:
      fits = value.is_object();
      if (fits) checkStruct(value, type.asStruct(), path);
      break;
    default:
      break;  // AnyPointer and interfaces: left to the codec
  }
  if (!fits) {
    fail(ErrorKind::kPermanent, path + ": expected " + typeName(type) + ", got " + shown(value));
  }
}

void checkStruct(const nlohmann::json& object, capnp::StructSchema schema,
                 const std::string& path) {
  for (const auto& [key, value] : object.items()) {
    KJ_IF_MAYBE (field, schema.findFieldByName(key)) {
      checkValue(value, field->getType(), path + "." + key);
    } else {
      std::string known;
      for (auto f : schema.getFields()) {
        known += (known.empty() ? "" : ", ") + std::string(f.getProto().getName().cStr());
      }
      fail(ErrorKind::kPermanent, path + "." + key + ": " + schema.getShortDisplayName().cStr() +
                                      " has no field '" + key + "' (its fields: " + known + ")");
    }
  }
}

}  // namespace

Words canonicalFromJson(capnp::StructSchema schema, std::string_view json) {
  const std::string typeName = schema.getShortDisplayName().cStr();
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(json);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based: the character at which the text stopped being JSON. The library's
    // text after its "[json.exception...] parse error at line L, column C: " says why.
    std::string why = e.what();
    if (auto column = why.find("column "); column != std::string::npos) {
      if (auto colon = why.find(": ", column); colon != std::string::npos) why.erase(0, colon + 2);
    }
    fail(ErrorKind::kPermanent, "the " + typeName + " is not valid JSON at character " +
                                    std::to_string(e.byte) + ": " + why);
  } catch (const nlohmann::json::exception& e) {
    // Not a syntax error but a value no type holds, e.g. out_of_range 406 "number overflow
    // parsing '1e999'" (found by fuzz/fuzz_json). The text after "[json.exception...] " says it.
    std::string why = e.what();
    if (auto bracket = why.find("] "); bracket != std::string::npos) why.erase(0, bracket + 2);
    fail(ErrorKind::kPermanent, "the " + typeName + " is not valid JSON: " + why);
  }
  if (!parsed.is_object()) {
    fail(ErrorKind::kPermanent,
         "a " + typeName + " is a JSON object ({...}), not " + shown(parsed));
  }
  try {
    checkStruct(parsed, schema, typeName);
  } catch (const Error& e) {
    fail(ErrorKind::kPermanent, std::string("JSON does not fit ") + e.what());
  }
  capnp::JsonCodec codec;
  codec.setRejectUnknownFields(true);  // a typo must not become a message with default fields
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<capnp::DynamicStruct>(schema);
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                 codec.decode(kj::ArrayPtr<const char>(json.data(), json.size()), root);
               })) {
    fail(ErrorKind::kPermanent,
         "JSON does not fit " + typeName + ": " + e->getDescription().cStr());
  }
  return message.getRoot<capnp::AnyStruct>().asReader().canonicalize();
}

std::string jsonFromCanonical(capnp::StructSchema schema, std::span<const std::byte> bytes) {
  CanonicalReader reader(bytes, "payload");
  capnp::JsonCodec codec;
  return codec.encode(reader.message().getRoot<capnp::DynamicStruct>(schema)).cStr();
}

}  // namespace idem::tools
