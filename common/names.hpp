#pragma once
/// What a user name and a piece of text may contain.
///
/// A user name is also an MQTT topic segment (`chat/user/{uid}/inbox`,
/// `chat/presence/{uid}`), so it must never contain `/`, `+`, `#`, NUL or
/// anything that could be read as another segment.

#include <cstddef>
#include <string_view>

namespace mqchat {

inline constexpr std::size_t max_user_name_length = 64;

/// 1–64 characters from [A-Za-z0-9._@-], starting with a letter or digit.
bool valid_user_name(std::string_view name);

inline constexpr std::size_t max_desk_name_length = 63;

/// A support desk's name (schema/012_support_desks.sql): 1–63 characters
/// from [a-z0-9_-], starting with a letter or digit.
bool valid_desk_name(std::string_view name);

/// The name a web visitor knocks with, logging in with a site key before
/// it has an identity (docs/desks.md, "Visitors from a website"): `k-` and
/// 16–62 random characters from [A-Za-z0-9_-]. Only site keys log in with
/// such names, and site keys log in with nothing else.
bool valid_knock_name(std::string_view name);

/// An anonymous web visitor's name, made by the widget: `v-` and 16–62
/// random characters from [A-Za-z0-9_-] (docs/desks.md).
bool valid_anonymous_visitor_name(std::string_view name);

/// An e-mail address, checked loosely (the SMTP server has the last word):
/// at most 254 bytes, one '@' with something on both sides, no space,
/// control character, '<' or '>'.
bool valid_email_address(std::string_view address);

/// True when `text` is well-formed UTF-8 (no overlong forms, no surrogates,
/// nothing above U+10FFFF) and contains no NUL.
bool valid_utf8(std::string_view text);

} // namespace mqchat
