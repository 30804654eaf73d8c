#include "common/envelope.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "common/json.hpp"
#include "common/media_url.hpp"
#include "common/names.hpp"

namespace mqchat {

namespace {

bool valid_client_id(std::string_view id) {
    if (id.empty() || id.size() > max_client_id_length) return false;
    for (char c : id)
        if (c < 0x21 || c > 0x7E) return false;
    return true;
}

bool fail(envelope_error& error, std::string_view code, std::string message) {
    error.code = code;
    error.message = std::move(message);
    return false;
}

/// Reads the client's fields from a parsed object; shared by both parsers.
bool is_event_type(std::string_view type) {
    return type == message_type::edit || type == message_type::delete_ || type == message_type::reaction ||
           type == message_type::unreaction;
}

/// Strict base64 (standard or URL alphabet, padding optional), 1..most characters.
bool base64_text(const Json::Value& v, std::size_t most) {
    if (!v.isString()) return false;
    const std::string& s = v.asString();
    if (s.empty() || s.size() > most) return false;
    std::size_t pad = 0;
    for (char c : s) {
        const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                            c == '/' || c == '-' || c == '_';
        if (c == '=') ++pad;
        else if (!letter || pad) return false; // nothing after padding
    }
    return pad <= 2;
}

/// A device id as the key directory takes it: 1-64 of A-Z a-z 0-9 _ -.
bool device_id(std::string_view d) {
    if (d.empty() || d.size() > 64) return false;
    for (char c : d)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    return true;
}

/// A client's key, quoted for an error message when it is short printable
/// ASCII; otherwise not repeated (the message is one line of UTF-8).
std::string quoted_key(const std::string& key) {
    if (key.size() > 64) return "one";
    for (char c : key)
        if (c < 0x20 || c > 0x7e) return "one";
    return "'" + key + "'";
}

/// The shape of an e2e envelope, never its content: {"sender_device",
/// "ciphertexts": {"user/device": {"type": 0|1, "body": base64}, …}} or
/// {"sender_device", "session_id", "ciphertext": base64}, nothing else.
bool read_e2e(const Json::Value& e, envelope_error& error) {
    const auto bad = [&](const std::string& why) { return fail(error, error_code::invalid_envelope, "field 'e2e': " + why); };
    if (!e.isObject()) return bad("must be an object");
    if (!e["sender_device"].isString() || !device_id(e["sender_device"].asString()))
        return bad("'sender_device' must be your device's id");
    const bool per_device = e.isMember("ciphertexts"), group = e.isMember("ciphertext");
    if (per_device == group) return bad("needs 'ciphertexts' (per device) or 'ciphertext' (a group session), one of them");
    for (const auto& key : e.getMemberNames())
        if (key != "sender_device" && key != (per_device ? "ciphertexts" : "ciphertext") && !(group && key == "session_id"))
            return bad("has an unknown field: " + quoted_key(key));
    if (group) {
        if (!e["session_id"].isString() || e["session_id"].asString().empty() || e["session_id"].asString().size() > 128 ||
            !base64_text(e["session_id"], 128))
            return bad("'session_id' must be the group session's id (base64)");
        if (!base64_text(e["ciphertext"], max_e2e_ciphertext))
            return bad("'ciphertext' must be base64 of at most " + std::to_string(max_e2e_ciphertext) + " characters");
        return true;
    }
    const Json::Value& all = e["ciphertexts"];
    if (!all.isObject() || all.empty() || all.size() > max_e2e_recipients)
        return bad("'ciphertexts' must map 1-" + std::to_string(max_e2e_recipients) + " \"user/device\" to ciphertexts");
    for (const auto& to : all.getMemberNames()) {
        const auto slash = to.find('/');
        if (slash == std::string::npos || !valid_user_name(to.substr(0, slash)) || !device_id(to.substr(slash + 1)))
            return bad("a recipient is not \"user/device\": " + quoted_key(to));
        const Json::Value& c = all[to];
        if (!c.isObject() || c.size() != 2 || !c["type"].isIntegral() || c["type"].asInt64() < 0 || c["type"].asInt64() > 1 ||
            !base64_text(c["body"], max_e2e_ciphertext))
            return bad("each ciphertext is {\"type\": 0 or 1, \"body\": base64 of at most " +
                       std::to_string(max_e2e_ciphertext) + " characters}");
    }
    return true;
}

bool read_fields(const Json::Value& v, send_envelope& out, envelope_error& error) {
    if (!v.isObject()) return fail(error, error_code::invalid_envelope, "envelope must be a JSON object");

    const Json::Value& id = v["id"];
    if (id.isString() && valid_client_id(id.asString())) out.id = id.asString();
    else if (id.isNull()) return fail(error, error_code::invalid_envelope, "missing field 'id'");
    else
        return fail(error, error_code::invalid_envelope,
                    "field 'id' must be a string of 1-64 printable ASCII characters");

    if (v.isMember("type")) {
        const Json::Value& type = v["type"];
        if (!type.isString() || type.asString().empty() || type.asString().size() > max_type_length ||
            !valid_user_name(type.asString())) // same safe alphabet as names
            return fail(error, error_code::invalid_envelope,
                        "field 'type' must be a short word of letters, digits, '.', '_' or '-'");
        out.type = type.asString();
    }
    const bool event = is_event_type(out.type);
    const bool attachment = is_media_type(out.type);
    const bool encrypted = out.type == message_type::e2e;
    if (v.isMember("media")) {
        const Json::Value& media = v["media"];
        // An encrypted message may carry an encrypted upload: its key and name are in the ciphertext.
        if (!attachment && !encrypted)
            return fail(error, error_code::invalid_envelope,
                        "field 'media' is only for types image, file, audio, video and e2e");
        if (!media.isString() || !media_url::valid_media_id(media.asString()))
            return fail(error, error_code::invalid_envelope,
                        "field 'media' must be an upload's id (32 hex digits, from media.upload)");
        out.media = media.asString();
    } else if (attachment) {
        return fail(error, error_code::invalid_envelope,
                    "a message of type '" + out.type + "' needs 'media', the id media.upload gave");
    }
    if (v.isMember("e2e")) {
        if (!encrypted) return fail(error, error_code::invalid_envelope, "field 'e2e' is only for type e2e");
        if (!read_e2e(v["e2e"], error)) return false;
        out.e2e = v["e2e"];
    } else if (encrypted) {
        return fail(error, error_code::invalid_envelope, "a message of type 'e2e' needs 'e2e', its ciphertexts");
    }
    const bool has_text = v.isMember("body") && !(v["body"].isString() && v["body"].asString().empty());
    if (encrypted && (has_text || v.isMember("ref") || v.isMember("reply_to")))
        return fail(error, error_code::invalid_envelope,
                    "an e2e message carries everything inside its ciphertext: no 'body', 'ref' or 'reply_to'");
    // A delete and an unreaction carry no text, an attachment may have a
    // caption, an encrypted message has only ciphertext; everything else has text.
    const bool needs_body =
        out.type != message_type::delete_ && out.type != message_type::unreaction && !attachment && !encrypted;
    const Json::Value& body = v["body"];
    if (body.isNull() && needs_body) return fail(error, error_code::invalid_envelope, "missing field 'body'");
    if (!body.isNull() && !body.isString())
        return fail(error, error_code::invalid_envelope, "field 'body' must be a string");
    out.body = body.isString() ? body.asString() : "";
    if (out.body.empty() && needs_body) return fail(error, error_code::invalid_envelope, "field 'body' is empty");
    if (!valid_utf8(out.body))
        return fail(error, error_code::invalid_envelope, "field 'body' is not valid UTF-8 text");
    if ((out.type == message_type::reaction || out.type == message_type::unreaction) && out.body.size() > 32)
        return fail(error, error_code::invalid_envelope, "a reaction is at most 32 bytes (an emoji or a short word)");

    if (v.isMember("ref")) {
        const Json::Value& r = v["ref"];
        if (!event) return fail(error, error_code::invalid_envelope, "field 'ref' is only for edit, delete and reactions");
        if (!r.isIntegral() || !r.isInt64() || r.asInt64() <= 0)
            return fail(error, error_code::invalid_envelope, "field 'ref' must be the positive seq of a message");
        out.ref = r.asInt64();
    } else if (event) {
        return fail(error, error_code::invalid_envelope, "a message of type '" + out.type + "' needs 'ref', the seq it is about");
    }
    if (v.isMember("reply_to")) {
        const Json::Value& r = v["reply_to"];
        if (!r.isIntegral() || !r.isInt64() || r.asInt64() <= 0)
            return fail(error, error_code::invalid_envelope,
                        "field 'reply_to' must be the positive seq of a message");
        out.reply_to = r.asInt64();
    }
    if (v.isMember("ack")) {
        if (!v["ack"].isBool()) return fail(error, error_code::invalid_envelope, "field 'ack' must be true or false");
        out.ack = v["ack"].asBool();
    }
    return true;
}

Json::Value fields_object(const send_envelope& env) {
    Json::Value v(Json::objectValue);
    v["id"] = env.id;
    if (env.type != message_type::e2e) v["body"] = env.body;
    if (!env.type.empty()) v["type"] = env.type;
    if (env.reply_to > 0) v["reply_to"] = Json::Int64(env.reply_to);
    if (env.ref > 0) v["ref"] = Json::Int64(env.ref);
    if (!env.media.empty()) v["media"] = env.media;
    if (!env.e2e.isNull()) v["e2e"] = env.e2e;
    if (!env.ack) v["ack"] = false;
    return v;
}

} // namespace

bool is_media_type(std::string_view type) {
    return type == message_type::image || type == message_type::file || type == message_type::audio ||
           type == message_type::video;
}

std::string message_id_of(std::string_view payload, std::size_t max_payload) {
    if (payload.empty() || payload.size() > max_payload) return {};
    Json::Value v;
    std::string why;
    if (!json::parse(payload, v, why) || !v.isObject() || !v["id"].isString()) return {};
    std::string id = v["id"].asString();
    return valid_client_id(id) ? id : std::string();
}

bool parse_send(std::string_view payload, std::size_t max_payload, send_envelope& out,
                envelope_error& error) {
    out = {};
    if (payload.empty()) return fail(error, error_code::invalid_json, "empty payload");
    if (payload.size() > max_payload)
        return fail(error, error_code::payload_too_large,
                    "payload of " + std::to_string(payload.size()) + " bytes exceeds the limit of " +
                        std::to_string(max_payload));
    Json::Value v;
    std::string why;
    if (!json::parse(payload, v, why)) return fail(error, error_code::invalid_json, "malformed JSON: " + why);
    if (!read_fields(v, out, error)) {
        // Keep the id for the refusal notice only when it was a valid one.
        if (!(v.isObject() && v["id"].isString() && valid_client_id(v["id"].asString()))) out.id.clear();
        return false;
    }
    return true;
}

std::string stamp_send(const send_envelope& env, std::string_view sender, bool guest) {
    Json::Value v = fields_object(env);
    v["sender"] = std::string(sender);
    if (guest) v["guest"] = true;
    return json::write(v);
}

bool parse_stamped(std::string_view payload, send_envelope& out, envelope_error& error) {
    out = {};
    Json::Value v;
    std::string why;
    if (!json::parse(payload, v, why)) return fail(error, error_code::invalid_json, "malformed JSON: " + why);
    if (!read_fields(v, out, error)) return false;
    const Json::Value& sender = v["sender"];
    if (!sender.isString() || !valid_user_name(sender.asString()))
        return fail(error, error_code::invalid_envelope, "envelope was not stamped with a sender");
    out.sender = sender.asString();
    out.guest = v["guest"].isBool() && v["guest"].asBool();
    return true;
}

namespace {
bool read_cursor(const Json::Value& v, const char* name, std::int64_t& out, envelope_error& error) {
    if (!v.isMember(name)) return true;
    const Json::Value& c = v[name];
    // Seqs fit in 2^53 (JSON numbers clients can hold exactly).
    if (!c.isIntegral() || !c.isInt64() || c.asInt64() < 0 || c.asInt64() > (std::int64_t(1) << 53))
        return fail(error, error_code::invalid_envelope, std::string(name) + " must be a seq (a non-negative integer)");
    out = c.asInt64();
    return true;
}
} // namespace

namespace {
/// `stamped`: the server's form, which must have "user"; a client's must not.
bool read_receipt(std::string_view payload, bool stamped, receipt& out, envelope_error& error) {
    out = {};
    if (payload.size() > 1024) return fail(error, error_code::payload_too_large, "a receipt is at most 1024 bytes");
    Json::Value v;
    std::string why;
    if (!json::parse(payload, v, why)) return fail(error, error_code::invalid_json, "malformed JSON: " + why);
    if (!v.isObject()) return fail(error, error_code::invalid_envelope, "a receipt is a JSON object");
    if (!read_cursor(v, "delivered", out.delivered, error) || !read_cursor(v, "read", out.read, error)) return false;
    if (!v.isMember("delivered") && !v.isMember("read"))
        return fail(error, error_code::invalid_envelope, "a receipt has \"delivered\" or \"read\"");
    for (const auto& key : v.getMemberNames()) {
        if (key == "delivered" || key == "read" || (stamped && key == "user")) continue;
        return fail(error, error_code::invalid_envelope,
                    key == "user" ? "a receipt names no user: the server says who it is from"
                                  : "a receipt has only \"delivered\" and \"read\"");
    }
    if (stamped) {
        if (!v["user"].isString() || !valid_user_name(v["user"].asString()))
            return fail(error, error_code::invalid_envelope, "receipt was not stamped with a user");
        out.user = v["user"].asString();
    }
    // Whatever has been read has been delivered.
    out.delivered = std::max(out.delivered, out.read);
    return true;
}
} // namespace

bool parse_receipt(std::string_view payload, receipt& out, envelope_error& error) {
    return read_receipt(payload, false, out, error);
}

std::string stamp_receipt(const receipt& r, std::string_view user) {
    Json::Value v(Json::objectValue);
    v["user"] = std::string(user);
    // Always there (delivered >= read), so that a client's {"read": 0}
    // stamps into a receipt the bridge accepts, not a bare {"user"}.
    v["delivered"] = Json::Int64(r.delivered);
    if (r.read > 0) v["read"] = Json::Int64(r.read);
    return json::write(v);
}

bool parse_stamped_receipt(std::string_view payload, receipt& out, envelope_error& error) {
    return read_receipt(payload, true, out, error);
}

namespace {
/// `{"typing":true|false,"at":<digits>}` exactly as clients write it, read
/// without a JSON parse (a JSON parse is most of the plugin's cost of a
/// typing message). False for anything else, which then takes the parse.
bool typing_with_at(std::string_view payload, bool& typing, std::int64_t& at) {
    constexpr std::string_view on = R"({"typing":true,"at":)", off = R"({"typing":false,"at":)";
    std::string_view digits;
    if (payload.substr(0, on.size()) == on) {
        typing = true;
        digits = payload.substr(on.size());
    } else if (payload.substr(0, off.size()) == off) {
        typing = false;
        digits = payload.substr(off.size());
    } else {
        return false;
    }
    if (digits.size() < 2 || digits.back() != '}') return false;
    digits.remove_suffix(1);
    if (digits.size() > 18 || (digits[0] == '0' && digits.size() > 1)) return false; // long or odd: the parse decides
    std::int64_t v = 0;
    for (const char c : digits) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    at = v;
    return true;
}
} // namespace

bool parse_typing(std::string_view payload, bool& typing, std::int64_t& at, envelope_error& error) {
    at = -1;
    // The messages almost every client sends, without a JSON parse.
    if (payload == R"({"typing":true})" || payload == R"({"typing":false})") {
        typing = payload.size() == 15;
        return true;
    }
    if (typing_with_at(payload, typing, at)) return true;
    at = -1;
    if (payload.size() > 256) return fail(error, error_code::payload_too_large, "a typing message is at most 256 bytes");
    Json::Value v;
    std::string why;
    if (!json::parse(payload, v, why)) return fail(error, error_code::invalid_json, "malformed JSON: " + why);
    const bool has_at = v.isObject() && v.isMember("at");
    if (!v.isObject() || v.size() != (has_at ? 2u : 1u) || !v["typing"].isBool())
        return fail(error, error_code::invalid_envelope, "typing is {\"typing\": true} or {\"typing\": false}, with \"at\" if you like");
    if (has_at) {
        if (!v["at"].isIntegral() || !v["at"].isInt64() || v["at"].asInt64() < 0)
            return fail(error, error_code::invalid_envelope, "at must be a time (a non-negative integer)");
        at = v["at"].asInt64();
    }
    typing = v["typing"].asBool();
    return true;
}

namespace {
constexpr std::string_view typing_on = R"({"typing":true)", typing_off = R"({"typing":false)", at_key = R"(,"at":)",
                           user_key = R"(,"user":")", stamp_end = "\"}";
} // namespace

typing_stamp::typing_stamp(bool typing, std::int64_t at, std::string_view user) : typing_(typing), user_(user) {
    if (at >= 0) at_digits_ = static_cast<std::size_t>(std::to_chars(at_, at_ + sizeof at_, at).ptr - at_);
    size_ = (typing ? typing_on.size() : typing_off.size()) + (at_digits_ ? at_key.size() + at_digits_ : 0) +
            user_key.size() + user.size() + stamp_end.size();
}

void typing_stamp::write_to(char* out) const {
    auto put = [&out](std::string_view s) {
        std::memcpy(out, s.data(), s.size());
        out += s.size();
    };
    put(typing_ ? typing_on : typing_off);
    if (at_digits_) {
        put(at_key);
        put({at_, at_digits_});
    }
    put(user_key);
    put(user_);
    put(stamp_end);
}

std::string stamp_typing(bool typing, std::int64_t at, std::string_view user) {
    // Written by hand, for speed (it runs for every typing message): a user
    // name is of a safe alphabet (names.hpp), so it needs no escaping.
    const typing_stamp stamp(typing, at, user);
    std::string out(stamp.size(), '\0');
    stamp.write_to(out.data());
    return out;
}

std::string stored_json(const stored_message& m) { return json::write(stored_value(m)); }

Json::Value stored_value(const stored_message& m) {
    Json::Value v(Json::objectValue);
    v["conv"] = Json::Int64(m.conv);
    v["seq"] = Json::Int64(m.seq);
    v["id"] = m.id;
    v["sender"] = m.sender;
    v["ts"] = Json::Int64(m.ts);
    v["body"] = m.body;
    if (!m.type.empty()) v["type"] = m.type;
    if (m.reply_to > 0) v["reply_to"] = Json::Int64(m.reply_to);
    if (m.ref > 0) v["ref"] = Json::Int64(m.ref);
    if (m.edited) v["edited"] = true;
    if (m.deleted) v["deleted"] = true;
    if (!m.media.isNull()) v["media"] = m.media;
    if (!m.e2e.isNull()) v["e2e"] = m.e2e;
    if (!m.mentions.empty()) {
        Json::Value a(Json::arrayValue);
        for (const auto& n : m.mentions) a.append(n);
        v["mentions"] = std::move(a);
    }
    if (m.reactions.isObject() && !m.reactions.empty()) v["reactions"] = m.reactions;
    return v;
}

std::string ack_json(std::string_view id, std::int64_t conv, std::int64_t seq, std::int64_t ts) {
    Json::Value v(Json::objectValue);
    v["ack"] = std::string(id);
    v["conv"] = Json::Int64(conv);
    v["seq"] = Json::Int64(seq);
    v["ts"] = Json::Int64(ts);
    return json::write(v);
}

std::string error_json(std::string_view code, std::string_view message, std::string_view id,
                       std::int64_t conv) {
    Json::Value v(Json::objectValue);
    v["error"]["code"] = std::string(code);
    v["error"]["message"] = std::string(message);
    if (!id.empty()) v["id"] = std::string(id);
    if (conv > 0) v["conv"] = Json::Int64(conv);
    return json::write(v);
}

} // namespace mqchat
