// Fuzz target for the chat envelope (common/envelope.hpp).
//
// Feeds arbitrary bytes to parse_send (max_payload 16384) and parse_stamped
// and checks, besides "no crash, no sanitizer report":
//  - an accepted send has the documented shape: id of 1-64 printable ASCII,
//    UTF-8 body without NUL (non-empty but for a delete, an unreaction and
//    an attachment), type a short safe word or empty, reply_to >= 0, media
//    (32 hex digits) exactly on attachment types, an e2e object exactly on
//    type e2e (with no body, ref or reply_to), no sender, not a guest;
//  - stamp_send of an accepted send gives JSON that parse_stamped accepts
//    with the same id, body, type, reply_to, sender and guest flag, and that
//    stamping that again gives the same bytes;
//  - an accepted stamped envelope survives the same round trip;
//  - stored_json of the fields parses back to the same values;
//  - a refusal has a known error code, a non-empty UTF-8 message without
//    control characters (so one line), keeps `id` only when it is a valid
//    one, and error_json of it parses back;
//  - parse_receipt: delivered >= read, and stamping gives back the same
//    cursors with the stamped user.
// A violated invariant stops the run with __builtin_trap().

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/envelope.hpp"
#include "common/json.hpp"
#include "common/media_url.hpp"
#include "common/names.hpp"

using namespace mqchat;

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

bool valid_client_id(std::string_view id) {
    if (id.empty() || id.size() > max_client_id_length) return false;
    for (char c : id)
        if (c < 0x21 || c > 0x7E) return false;
    return true;
}

void check_fields(const send_envelope& e) {
    check(valid_client_id(e.id));
    const bool may_be_empty = e.type == message_type::delete_ || e.type == message_type::unreaction ||
                              is_media_type(e.type) || e.type == message_type::e2e;
    check((may_be_empty || !e.body.empty()) && valid_utf8(e.body));
    check(is_media_type(e.type) ? media_url::valid_media_id(e.media) : e.media.empty());
    // Ciphertext exactly on e2e, and nothing in the clear beside it.
    check(e.type == message_type::e2e ? e.e2e.isObject() && e.body.empty() && e.ref == 0 && e.reply_to == 0
                                      : e.e2e.isNull());
    check(e.type.empty() || (e.type.size() <= max_type_length && valid_user_name(e.type)));
    check(e.reply_to >= 0);
}

bool same_fields(const send_envelope& a, const send_envelope& b) {
    return a.id == b.id && a.body == b.body && a.type == b.type && a.reply_to == b.reply_to && a.ref == b.ref &&
           a.media == b.media && a.e2e == b.e2e;
}

/// stamp_send -> parse_stamped gives back what went in; stamping is stable.
void check_stamp_roundtrip(const send_envelope& e, std::string_view sender, bool guest) {
    const std::string stamped = stamp_send(e, sender, guest);
    send_envelope back;
    envelope_error err;
    check(parse_stamped(stamped, back, err));
    check(same_fields(e, back));
    check(back.sender == sender);
    check(back.guest == guest);
    check(stamp_send(back, back.sender, back.guest) == stamped);
}

void check_stored(const send_envelope& e) {
    stored_message m;
    m.conv = 7;
    m.seq = 9;
    m.ts = 1700000000000;
    m.id = e.id;
    m.sender = e.sender.empty() ? "alice" : e.sender;
    m.body = e.body;
    m.type = e.type;
    m.reply_to = e.reply_to;
    Json::Value v;
    std::string why;
    check(json::parse(stored_json(m), v, why));
    check(v.isObject() && v["id"].asString() == m.id && v["body"].asString() == m.body &&
          v["sender"].asString() == m.sender && v["seq"].asInt64() == 9);
    check(m.type.empty() ? !v.isMember("type") : v["type"].asString() == m.type);
    check(m.reply_to > 0 ? v["reply_to"].asInt64() == m.reply_to : !v.isMember("reply_to"));
}

void check_refusal(const send_envelope& out, const envelope_error& err, bool size_limited) {
    check(err.code == error_code::invalid_json || err.code == error_code::invalid_envelope ||
          (size_limited && err.code == error_code::payload_too_large));
    check(!err.message.empty());
    // The message goes to the client inside error_json: one line of UTF-8 text.
    check(valid_utf8(err.message));
    for (char c : err.message) check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F);
    check(out.id.empty() || valid_client_id(out.id));
    Json::Value v;
    std::string why;
    check(json::parse(error_json(err.code, err.message, out.id, 3), v, why));
    check(v["error"]["message"].asString() == err.message);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view payload(reinterpret_cast<const char*>(data), size);
    constexpr std::size_t max_payload = 16384;

    send_envelope env;
    envelope_error err;
    if (parse_send(payload, max_payload, env, err)) {
        check(size <= max_payload);
        check_fields(env);
        check(env.sender.empty() && !env.guest); // a client cannot choose these
        check_stamp_roundtrip(env, "alice", false);
        check_stamp_roundtrip(env, "guest-7.x@example_org", true);
        check_stored(env);
    } else {
        check_refusal(env, err, true);
        check(size <= max_payload || err.code == error_code::payload_too_large);
    }

    send_envelope stamped;
    envelope_error serr;
    if (parse_stamped(payload, stamped, serr)) {
        check_fields(stamped);
        check(valid_user_name(stamped.sender));
        check_stamp_roundtrip(stamped, stamped.sender, stamped.guest);
        check_stored(stamped);
    } else {
        check_refusal(stamped, serr, false);
    }

    // Receipts: whatever has been read has been delivered, and stamping
    // gives back the same cursors with the stamped user, never a forged one.
    receipt rc;
    envelope_error rerr;
    if (parse_receipt(payload, rc, rerr)) {
        check(rc.delivered >= rc.read && rc.read >= 0 && rc.user.empty());
        receipt back;
        check(parse_stamped_receipt(stamp_receipt(rc, "bob"), back, rerr));
        check(back.user == "bob" && back.read == rc.read && back.delivered == rc.delivered);
    } else {
        check(!rerr.message.empty() && valid_utf8(rerr.message));
    }
    return 0;
}
