#pragma once
/// Strict JSON in, compact JSON out (jsoncpp underneath).

#include <json/json.h>

#include <string>
#include <string_view>

namespace mqchat::json {

/// How deep objects and arrays may nest in anything a client sends.
inline constexpr int max_depth = 16;

/// Parses exactly one JSON value: no comments, no trailing garbage, no
/// duplicate keys, nesting at most max_depth. On failure returns false and a
/// one-line reason in `error`.
bool parse(std::string_view text, Json::Value& out, std::string& error);

/// One line, UTF-8 kept as is.
std::string write(const Json::Value& value);

} // namespace mqchat::json
