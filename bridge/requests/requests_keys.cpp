// The key directory for end-to-end encryption (docs/protocol.md,
// "End-to-end encryption"; schema/024_e2e_keys.sql): devices publish the
// public keys of their libolm accounts (keys.upload, keys.count), other
// devices claim one-time keys to start sessions with them (keys.claim), and
// a user's device list is visible to the people who share a conversation
// with them (devices.list, devices.remove, notices). The server checks every
// key's size and every signature (libsodium); it never holds a private key
// and cannot tell whether a device is really its owner's.

#include <sodium.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <set>

#include "common/json.hpp"
#include "pg_requests.hpp"
#include "request_helpers.hpp"

namespace mqchat::bridge {

using namespace request_helpers;

namespace {

/// 50 signed keys are about 8.6 KB of JSON: an upload stays well within the
/// plugin's max_payload (16 KB by default), which 100 would exceed.
constexpr int max_one_time_keys_per_upload = 50;
constexpr int max_one_time_keys_stored = 200;
constexpr int max_devices_per_user = 10;
/// Below this many one-time keys after a claim, the owner hears keys.low.
constexpr int low_one_time_keys = 10;
/// keys.claim requests per caller and minute (counted in e2e_claim_rate).
constexpr int max_claims_per_minute = 60;

constexpr std::size_t key_bytes = 32, signature_bytes = 64;

/// Unpadded standard base64 of exactly `bytes` bytes, canonical (the unused
/// low bits of the last character zero, as libsodium checks): libolm's form.
bool exact_base64(const Json::Value& v, std::size_t bytes, unsigned char* out) {
    if (!v.isString()) return false;
    const std::string& s = v.asString();
    if (s.size() != (bytes * 4 + 2) / 3) return false;
    std::size_t got = 0;
    return sodium_base642bin(out, bytes, s.data(), s.size(), nullptr, &got, nullptr,
                             sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0 &&
           got == bytes;
}

/// A Curve25519 public key that is not of small order: a clamped scalar (a
/// multiple of the cofactor) times such a point is zero, which libsodium
/// reports. Any other 32 bytes are a usable key.
bool usable_curve25519(const unsigned char* key) {
    std::array<unsigned char, crypto_scalarmult_SCALARBYTES> scalar{};
    scalar.fill(0x5a);
    std::array<unsigned char, crypto_scalarmult_BYTES> product{};
    const bool ok = crypto_scalarmult(product.data(), scalar.data(), key) == 0;
    sodium_memzero(product.data(), product.size());
    return ok;
}

bool valid_device_id(const Json::Value& v) {
    if (!v.isString() || v.asString().empty() || v.asString().size() > 64) return false;
    for (char c : v.asString())
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    return true;
}

/// libolm's key ids are unpadded base64 of a counter ("AAAAAQ"); other
/// clients may use their own, within this alphabet.
bool valid_key_id(const Json::Value& v) {
    if (!v.isString() || v.asString().empty() || v.asString().size() > 64) return false;
    for (char c : v.asString())
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
              c == '=' || c == '_' || c == '-'))
            return false;
    return true;
}

/// The exact bytes a device signs with its Ed25519 key for each key it
/// publishes (docs/protocol.md): kind "device" (key_id "", key = the
/// identity key), "one_time" or "fallback".
std::string signed_text(const std::string& user, const std::string& device, std::string_view kind,
                        const std::string& key_id, const std::string& key) {
    std::string s = "mqchat-key\n";
    s += user;
    s += '\n';
    s += device;
    s += '\n';
    s += kind;
    s += '\n';
    s += key_id;
    s += '\n';
    s += key;
    return s;
}

bool signature_valid(const Json::Value& signature, const std::string& text, const unsigned char* signing_key) {
    std::array<unsigned char, signature_bytes> sig{};
    return exact_base64(signature, signature_bytes, sig.data()) &&
           crypto_sign_verify_detached(sig.data(), reinterpret_cast<const unsigned char*>(text.data()), text.size(),
                                       signing_key) == 0;
}

struct signed_key {
    std::string id, key, signature;
};

/// A {id, key, signature} object of `kind`, its key a usable Curve25519
/// key and its signature the device's; false with `why` otherwise.
bool read_signed_key(const Json::Value& v, std::string_view kind, const std::string& user, const std::string& device,
                     const unsigned char* signing_key, signed_key& out, std::string& why) {
    const std::string what = kind == "fallback" ? std::string("fallback_key") : "one-time key";
    if (!v.isObject()) {
        why = what + " must be an object {id, key, signature}";
        return false;
    }
    if (!valid_key_id(v["id"])) {
        why = what + ": id must be 1-64 characters of A-Z a-z 0-9 + / = _ -";
        return false;
    }
    out.id = v["id"].asString();
    std::array<unsigned char, key_bytes> key{};
    if (!exact_base64(v["key"], key_bytes, key.data())) {
        why = what + " " + out.id + ": key must be a Curve25519 public key, 32 bytes in unpadded base64 (43 characters)";
        return false;
    }
    if (!usable_curve25519(key.data())) {
        why = what + " " + out.id + ": key is a point of small order, not a usable Curve25519 key";
        return false;
    }
    out.key = v["key"].asString();
    if (!signature_valid(v["signature"], signed_text(user, device, kind, out.id, out.key), signing_key)) {
        why = what + " " + out.id + ": signature must be the device's Ed25519 signature (64 bytes, unpadded base64)"
                                    " of the key as docs/protocol.md says";
        return false;
    }
    out.signature = v["signature"].asString();
    return true;
}

/// A refusal found inside a transaction: thrown to roll it back, then answered.
struct refusal {
    method_outcome outcome;
};
[[noreturn]] void refuse(std::string_view code, std::string message) {
    throw refusal{fail(code, std::move(message))};
}

/// Serialises one user's changes to its devices and keys: the limits are
/// counted under it.
void lock_user_keys(pg::connection& db, std::int64_t user) {
    db.exec("SELECT pg_advisory_xact_lock(hashtextextended('mqchat e2e keys ' || $1, 0))", {std::to_string(user)});
}

/// The user named `name` when the caller may see its devices: itself, or
/// someone it shares a conversation with. 0 otherwise (no such user looks
/// the same: the directory is not for strangers).
std::int64_t visible_user(pg::connection& db, const std::string& name, std::int64_t me) {
    const auto r = db.exec("SELECT u.id FROM users u WHERE u.name = $1 AND (u.id = $2 OR EXISTS ("
                           "  SELECT 1 FROM members a JOIN members b ON b.conv_id = a.conv_id"
                           "   WHERE a.user_id = $2 AND b.user_id = u.id))",
                           {name, std::to_string(me)});
    return r.rows() == 1 ? r.int64(0, 0) : 0;
}

/// The unclaimed one-time keys of a device, and whether its fallback key is
/// stored and not handed out yet.
std::pair<std::int64_t, bool> stock(pg::connection& db, const std::string& device_row) {
    const auto r = db.exec("SELECT (SELECT count(*) FROM e2e_one_time_keys WHERE device_id = $1 AND claimed_at IS NULL),"
                           "       EXISTS (SELECT 1 FROM e2e_fallback_keys WHERE device_id = $1 AND used_at IS NULL)",
                           {device_row});
    return {r.int64(0, 0), r.boolean(0, 1)};
}

} // namespace

std::vector<outgoing_message> pg_requests::device_change_notices(pg::connection& db, std::int64_t me,
                                                                  const std::string& user, const std::string& device,
                                                                  std::string_view change) const {
    Json::Value n(Json::objectValue);
    n["notice"] = "devices.changed";
    n["user"] = user;
    n["device"] = device;
    n["change"] = std::string(change);
    // Everyone who shares a conversation with the user, and the user's own
    // other devices (they encrypt for each other too).
    std::vector<outgoing_message> out{notice(user, n)};
    const auto partners = db.exec("SELECT DISTINCT u.name FROM members a JOIN members b ON b.conv_id = a.conv_id"
                                  "  JOIN users u ON u.id = b.user_id"
                                  " WHERE a.user_id = $1 AND b.user_id <> $1 AND u.role <> 'bridge' ORDER BY 1",
                                  {std::to_string(me)});
    for (int i = 0; i < partners.rows(); ++i) out.push_back(notice(partners.str(i, 0), n));
    return out;
}

method_outcome pg_requests::keys_upload(pg::connection& db, const rpc::request& r, std::int64_t me) {
    const Json::Value& p = r.params;
    if (!valid_device_id(p["device"])) return bad("device must be 1-64 characters of A-Z a-z 0-9 _ -");
    const std::string device = p["device"].asString();
    std::array<unsigned char, key_bytes> signing_key{}, identity_key{};
    if (!exact_base64(p["signing_key"], key_bytes, signing_key.data()))
        return bad("signing_key must be the device's Ed25519 public key, 32 bytes in unpadded base64 (43 characters)");
    if (!exact_base64(p["identity_key"], key_bytes, identity_key.data()))
        return bad("identity_key must be the device's Curve25519 public key, 32 bytes in unpadded base64 (43 characters)");
    if (!usable_curve25519(identity_key.data()))
        return bad("identity_key is a point of small order, not a usable Curve25519 key");
    if (!signature_valid(p["signature"], signed_text(r.caller, device, "device", "", p["identity_key"].asString()),
                         signing_key.data()))
        return bad("signature must be the Ed25519 signature by signing_key (64 bytes, unpadded base64) of the"
                   " device's keys as docs/protocol.md says");

    std::vector<signed_key> one_time;
    std::string why;
    if (p.isMember("one_time_keys")) {
        const Json::Value& list = p["one_time_keys"];
        if (!list.isArray()) return bad("one_time_keys must be a list of {id, key, signature}");
        if (list.size() > max_one_time_keys_per_upload)
            return bad("at most " + std::to_string(max_one_time_keys_per_upload) + " one-time keys per upload");
        std::set<std::string> ids;
        for (const auto& v : list) {
            signed_key k;
            if (!read_signed_key(v, "one_time", r.caller, device, signing_key.data(), k, why)) return bad(why);
            if (!ids.insert(k.id).second) return bad("one-time key id " + k.id + " appears twice");
            one_time.push_back(std::move(k));
        }
    }
    std::optional<signed_key> fallback;
    if (p.isMember("fallback_key")) {
        signed_key k;
        if (!read_signed_key(p["fallback_key"], "fallback", r.caller, device, signing_key.data(), k, why))
            return bad(why);
        fallback = std::move(k);
    }

    try {
        return pg::transaction(db, [&]() -> method_outcome {
            lock_user_keys(db, me);
            const std::string uid = std::to_string(me);
            const auto known = db.exec("SELECT id, signing_key, identity_key FROM e2e_devices"
                                       " WHERE user_id = $1 AND device = $2",
                                       {uid, device});
            std::string row;
            bool added = false;
            if (known.rows() == 1) {
                if (known.text(0, 1) != p["signing_key"].asString() || known.text(0, 2) != p["identity_key"].asString())
                    refuse(error_code::conflict, "device " + device +
                                                     " is registered with other keys; a device's keys never change"
                                                     " (remove it with devices.remove and register a new one)");
                row = known.str(0, 0);
                db.exec("UPDATE e2e_devices SET last_seen = now() WHERE id = $1", {row});
            } else {
                const auto n = db.exec("SELECT count(*) FROM e2e_devices WHERE user_id = $1", {uid});
                if (n.int64(0, 0) >= max_devices_per_user)
                    refuse(error_code::too_many, "you have " + std::to_string(max_devices_per_user) +
                                                     " devices, the most there may be; remove one first (devices.remove)");
                row = db.exec("INSERT INTO e2e_devices (user_id, device, signing_key, identity_key, signature)"
                              " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                              {uid, device, p["signing_key"].asString(), p["identity_key"].asString(),
                               p["signature"].asString()})
                          .str(0, 0);
                added = true;
            }

            if (!one_time.empty()) {
                // A key already stored under its id is taken as a repeat of
                // an earlier upload (a lost reply): the same key is no news,
                // a claimed one stays handed out, another key is a conflict.
                std::vector<std::string> ids, keys, signatures;
                for (const auto& k : one_time) ids.push_back(k.id);
                const auto stored = db.exec("SELECT key_id, coalesce(key, '') FROM e2e_one_time_keys"
                                            " WHERE device_id = $1 AND key_id = ANY($2::text[])",
                                            {row, pg::text_array(ids)});
                std::map<std::string, std::string> already;
                for (int i = 0; i < stored.rows(); ++i) already[stored.str(i, 0)] = stored.str(i, 1);
                ids.clear();
                for (const auto& k : one_time) {
                    const auto it = already.find(k.id);
                    if (it == already.end()) {
                        ids.push_back(k.id);
                        keys.push_back(k.key);
                        signatures.push_back(k.signature);
                    } else if (!it->second.empty() && it->second != k.key) {
                        refuse(error_code::conflict, "one-time key " + k.id + " is stored with another key");
                    }
                }
                const std::int64_t have = stock(db, row).first;
                if (have + std::int64_t(ids.size()) > max_one_time_keys_stored)
                    refuse(error_code::too_many,
                           "device " + device + " has " + std::to_string(have) + " one-time keys; with these " +
                               std::to_string(ids.size()) + " it would have more than " +
                               std::to_string(max_one_time_keys_stored));
                if (!ids.empty())
                    db.exec("INSERT INTO e2e_one_time_keys (device_id, key_id, key, signature)"
                            " SELECT $1, k.id, k.key, k.sig"
                            "   FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS k(id, key, sig, n)"
                            "  ORDER BY k.n",
                            {row, pg::text_array(ids), pg::text_array(keys), pg::text_array(signatures)});
            }
            if (fallback)
                db.exec("INSERT INTO e2e_fallback_keys (device_id, key_id, key, signature) VALUES ($1, $2, $3, $4)"
                        " ON CONFLICT (device_id) DO UPDATE SET key_id = EXCLUDED.key_id, key = EXCLUDED.key,"
                        "   signature = EXCLUDED.signature, uploaded_at = now(), used_at = NULL"
                        " WHERE (e2e_fallback_keys.key_id, e2e_fallback_keys.key)"
                        "       IS DISTINCT FROM (EXCLUDED.key_id, EXCLUDED.key)",
                        {row, fallback->id, fallback->key, fallback->signature});

            const auto [count, has_fallback] = stock(db, row);
            method_outcome o;
            o.result["device"] = device;
            o.result["one_time_keys"] = Json::Int64(count);
            o.result["fallback"] = has_fallback;
            o.result["added"] = added;
            if (added) o.notices = device_change_notices(db, me, r.caller, device, "added");
            return o;
        });
    } catch (const refusal& e) {
        return e.outcome;
    }
}

method_outcome pg_requests::keys_count(pg::connection& db, const rpc::request& r, std::int64_t me) {
    if (!valid_device_id(r.params["device"])) return bad("device must be 1-64 characters of A-Z a-z 0-9 _ -");
    const std::string device = r.params["device"].asString();
    const auto row = db.exec("UPDATE e2e_devices SET last_seen = now() WHERE user_id = $1 AND device = $2 RETURNING id",
                             {std::to_string(me), device});
    if (row.rows() == 0) return fail(error_code::not_found, "you have no device " + device + " (keys.upload registers it)");
    const auto [count, has_fallback] = stock(db, row.str(0, 0));
    Json::Value out(Json::objectValue);
    out["device"] = device;
    out["one_time_keys"] = Json::Int64(count);
    out["fallback"] = has_fallback;
    return ok(out);
}

method_outcome pg_requests::keys_claim(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::string user, why;
    if (!user_name_param(r.params, "user", user, why)) return bad(why);
    const bool one_device = r.params.isMember("device");
    if (one_device && !valid_device_id(r.params["device"]))
        return bad("device must be 1-64 characters of A-Z a-z 0-9 _ -");
    const std::int64_t target = visible_user(db, user, me);
    if (target == 0) return fail(error_code::not_found, "no user " + user + " you share a conversation with");

    try {
        return pg::transaction(db, [&]() -> method_outcome {
            // The caller's claims this minute; a refused claim is rolled back
            // with everything else, so only claims that got an answer count.
            const auto rate = db.exec(
                "INSERT INTO e2e_claim_rate AS c (user_id, window_start, claims) VALUES ($1, now(), 1)"
                " ON CONFLICT (user_id) DO UPDATE SET"
                "   claims = CASE WHEN c.window_start <= now() - interval '1 minute' THEN 1 ELSE c.claims + 1 END,"
                "   window_start = CASE WHEN c.window_start <= now() - interval '1 minute' THEN now()"
                "                       ELSE c.window_start END"
                " RETURNING claims, (extract(epoch FROM window_start + interval '1 minute' - now()) * 1000)::bigint",
                {std::to_string(me)});
            if (rate.int64(0, 0) > max_claims_per_minute)
                refuse(error_code::rate_limited, "at most " + std::to_string(max_claims_per_minute) +
                                                     " key claims a minute; try again in " +
                                                     std::to_string(std::max<std::int64_t>(rate.int64(0, 1), 0)) + " ms");
            const auto devices =
                one_device ? db.exec("SELECT id, device, signing_key, identity_key, signature FROM e2e_devices"
                                     " WHERE user_id = $1 AND device = $2",
                                     {std::to_string(target), r.params["device"].asString()})
                           : db.exec("SELECT id, device, signing_key, identity_key, signature FROM e2e_devices"
                                     " WHERE user_id = $1 ORDER BY device",
                                     {std::to_string(target)});
            if (one_device && devices.rows() == 0)
                refuse(error_code::not_found, user + " has no device " + r.params["device"].asString());
            method_outcome o;
            o.result["user"] = user;
            o.result["devices"] = Json::Value(Json::arrayValue);
            for (int i = 0; i < devices.rows(); ++i) {
                const std::string row = devices.str(i, 0);
                Json::Value d(Json::objectValue);
                d["device"] = devices.str(i, 1);
                d["signing_key"] = devices.str(i, 2);
                d["identity_key"] = devices.str(i, 3);
                d["signature"] = devices.str(i, 4);
                // The oldest unclaimed key that no concurrent claim holds:
                // picked, locked and emptied in one statement, so it goes
                // to this claim alone (each row is re-checked once locked).
                const auto key = db.exec(
                    "WITH pick AS (SELECT id, key_id, key, signature FROM e2e_one_time_keys"
                    "               WHERE device_id = $1 AND claimed_at IS NULL"
                    "               ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)"
                    " UPDATE e2e_one_time_keys o SET claimed_at = now(), key = NULL, signature = NULL"
                    "   FROM pick WHERE o.id = pick.id RETURNING pick.key_id, pick.key, pick.signature",
                    {row});
                Json::Value k(Json::objectValue);
                if (key.rows() == 1) {
                    k["id"] = key.str(0, 0);
                    k["key"] = key.str(0, 1);
                    k["signature"] = key.str(0, 2);
                } else {
                    const auto fb = db.exec("UPDATE e2e_fallback_keys SET used_at = coalesce(used_at, now())"
                                            " WHERE device_id = $1 RETURNING key_id, key, signature",
                                            {row});
                    if (fb.rows() == 1) {
                        k["id"] = fb.str(0, 0);
                        k["key"] = fb.str(0, 1);
                        k["signature"] = fb.str(0, 2);
                        k["fallback"] = true;
                    } else {
                        k = Json::Value(); // nothing to start a session with
                    }
                }
                d["one_time_key"] = k;
                o.result["devices"].append(std::move(d));

                // Counted only up to the threshold: a claim does not walk a
                // device's whole stock to learn that it is not low.
                const auto low = db.exec(
                    "SELECT (SELECT count(*) FROM (SELECT 1 FROM e2e_one_time_keys WHERE device_id = $1"
                    "                                AND claimed_at IS NULL LIMIT $2) s),"
                    "       EXISTS (SELECT 1 FROM e2e_fallback_keys WHERE device_id = $1 AND used_at IS NULL)",
                    {row, std::to_string(low_one_time_keys)});
                const std::int64_t left = low.int64(0, 0);
                const bool has_fallback = low.boolean(0, 1);
                if (left < low_one_time_keys) {
                    Json::Value n(Json::objectValue);
                    n["notice"] = "keys.low";
                    n["device"] = devices.str(i, 1);
                    n["one_time_keys"] = Json::Int64(left);
                    n["fallback"] = has_fallback;
                    o.notices.push_back(notice(user, n));
                }
            }
            return o;
        });
    } catch (const refusal& e) {
        return e.outcome;
    }
}

method_outcome pg_requests::devices_list(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::string user = r.caller, why;
    if (r.params.isMember("user") && !user_name_param(r.params, "user", user, why)) return bad(why);
    const std::int64_t target = visible_user(db, user, me);
    if (target == 0) return fail(error_code::not_found, "no user " + user + " you share a conversation with");
    const auto rows = db.exec("SELECT device, signing_key, identity_key, signature,"
                              "       (extract(epoch FROM created_at) * 1000)::bigint,"
                              "       (extract(epoch FROM last_seen) * 1000)::bigint"
                              "  FROM e2e_devices WHERE user_id = $1 ORDER BY created_at, device",
                              {std::to_string(target)});
    Json::Value out(Json::objectValue);
    out["user"] = user;
    out["devices"] = Json::Value(Json::arrayValue);
    for (int i = 0; i < rows.rows(); ++i) {
        Json::Value d(Json::objectValue);
        d["device"] = rows.str(i, 0);
        d["signing_key"] = rows.str(i, 1);
        d["identity_key"] = rows.str(i, 2);
        d["signature"] = rows.str(i, 3);
        d["created"] = Json::Int64(rows.int64(i, 4));
        if (target == me) d["last_seen"] = Json::Int64(rows.int64(i, 5)); // the owner's only
        out["devices"].append(std::move(d));
    }
    return ok(out);
}

method_outcome pg_requests::devices_remove(pg::connection& db, const rpc::request& r, std::int64_t me) {
    if (!valid_device_id(r.params["device"])) return bad("device must be 1-64 characters of A-Z a-z 0-9 _ -");
    const std::string device = r.params["device"].asString();
    return pg::transaction(db, [&]() -> method_outcome {
        lock_user_keys(db, me);
        // Its one-time and fallback keys go with it (ON DELETE CASCADE).
        const auto gone = db.exec("DELETE FROM e2e_devices WHERE user_id = $1 AND device = $2 RETURNING id",
                                  {std::to_string(me), device});
        if (gone.rows() == 0) return fail(error_code::not_found, "you have no device " + device);
        method_outcome o;
        o.result["device"] = device;
        o.result["removed"] = true;
        o.notices = device_change_notices(db, me, r.caller, device, "removed");
        return o;
    });
}

} // namespace mqchat::bridge
