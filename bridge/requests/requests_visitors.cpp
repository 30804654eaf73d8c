// desk.visit: a web visitor's way in (docs/desks.md, "Visitors from a
// website"). The widget knocks with the site's public key under a random
// k-… name (the plugin lets it ask this and nothing else, and stamps the
// key's id); the answer names the visitor, says how the desk is doing, and —
// once there is a conversation — carries a guest token for it, with which
// the widget logs in again to chat.
//
// Who the visitor is:
//   - anonymous: a v-… name and a secret the widget made and keeps in the
//     browser; the first visit registers them (the secret's SHA-256), later
//     ones must show the same secret;
//   - verified: the site's backend signed its user's id with the desk's
//     identity secret (HMAC-SHA256, hex); the visitor is c-… derived from
//     desk and id, the same on every device, and finds its earlier
//     conversations there.
// A visitor already holding a guest token may ask again (a new conversation
// after the last one closed); it is then the caller itself.

#include <sodium.h>

#include <chrono>

#include "common/hmac.hpp"
#include "common/json.hpp"
#include "common/names.hpp"
#include "common/token.hpp"
#include "pg_requests.hpp"
#include "request_helpers.hpp"

namespace mqchat::bridge {

using namespace request_helpers;

namespace {

constexpr std::size_t max_external_id = 200, max_display_name = 100, min_secret = 16, max_secret = 200;
constexpr int max_past = 20;

std::string sha256(std::string_view text) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

bool same_secret(std::string_view a, std::string_view b) {
    return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

/// The desk a visit is for, from the site key or the returning visitor.
struct visit_desk {
    std::int64_t id = 0;
    std::string name, identity_secret;
};

} // namespace

method_outcome pg_requests::desk_visit(pg::connection& db, const rpc::request& r) {
    const Json::Value& p = r.params;
    visit_desk desk;
    std::string visitor; // the visitor's user name
    std::int64_t me = 0;
    Json::Value vouched(Json::objectValue); // what the site's backend signed for, shown to agents

    if (!r.site_key.empty()) {
        const auto k = db.exec("SELECT k.desk_id, d.name, coalesce(d.identity_secret, ''), k.revoked_at IS NOT NULL,"
                               "       k.expires_at < now()"
                               "  FROM site_keys k JOIN desks d ON d.id = k.desk_id WHERE k.id = $1",
                               {r.site_key});
        if (k.rows() == 0) return fail(error_code::forbidden, "this site key is not known here");
        if (k.boolean(0, 3)) return fail(error_code::forbidden, "this site key was revoked");
        if (k.boolean(0, 4)) return fail(error_code::forbidden, "this site key has expired");
        desk = {k.int64(0, 0), k.str(0, 1), k.str(0, 2)};
    } else if (r.guest) {
        const auto v = db.exec("SELECT v.desk_id, d.name, coalesce(d.identity_secret, ''), u.id"
                               "  FROM users u JOIN visitors v ON v.user_id = u.id JOIN desks d ON d.id = v.desk_id"
                               " WHERE u.name = $1 AND u.role = 'guest'",
                               {r.caller});
        if (v.rows() == 0)
            return fail(error_code::forbidden, "desk.visit is for web visitors (a site key, or a visitor's guest token)");
        desk = {v.int64(0, 0), v.str(0, 1), v.str(0, 2)};
        visitor = r.caller;
        me = v.int64(0, 3);
    } else {
        return fail(error_code::forbidden, "desk.visit is for web visitors; users of the chat use desk.start");
    }
    if (visitor_tokens_.secret.empty())
        return fail(error_code::internal, "web visitors are not set up on this server (visitor_token_secret_file)");

    const bool start = !p.isMember("start") || (p["start"].isBool() && p["start"].asBool());
    if (p.isMember("start") && !p["start"].isBool()) return bad("start must be true or false");
    if (p.isMember("offline") && !p["offline"].isObject()) return bad("offline must be an object (email, name?, body)");

    if (me == 0) {
        const std::string desk_id = std::to_string(desk.id);
        if (p.isMember("identity")) {
            const Json::Value& id = p["identity"];
            if (!id.isObject() || !one_line_text(id["id"], max_external_id) || !id["signature"].isString())
                return bad("identity must be an object with id (1 to 200 bytes, one line) and signature");
            if (id.isMember("name") && !one_line_text(id["name"], max_display_name))
                return bad("identity.name must be one line of 1 to 100 bytes");
            if (id.isMember("email") && (!id["email"].isString() || !valid_email_address(id["email"].asString())))
                return bad("identity.email must be an e-mail address");
            if (desk.identity_secret.empty())
                return fail(error_code::forbidden, "desk " + desk.name + " verifies no identities");
            const std::string external = id["id"].asString();
            std::string signature = id["signature"].asString(); // hex, in either case
            for (char& c : signature) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
            if (!same_secret(hmac_sha256_hex(desk.identity_secret, external), signature))
                return fail(error_code::forbidden, "the identity's signature does not verify");
            const std::string digest = sha256(desk_id + ":" + external);
            visitor = "c-" + hex(reinterpret_cast<const unsigned char*>(digest.data()), 16);
            const std::string name = id.isMember("name") ? id["name"].asString() : "";
            const std::string email = id.isMember("email") ? id["email"].asString() : "";
            vouched["verified"] = "yes";
            if (!name.empty()) vouched["name"] = name;
            if (!email.empty()) vouched["email"] = email;
            const auto row = pg::transaction(db, [&] {
                db.exec("INSERT INTO users (name, role) VALUES ($1, 'guest') ON CONFLICT (name) DO NOTHING", {visitor});
                const auto u = db.exec("SELECT id, role FROM users WHERE name = $1 FOR UPDATE", {visitor});
                if (u.str(0, 1) != "guest") return std::int64_t(0);
                db.exec("INSERT INTO visitors (user_id, desk_id, external_id, display_name, email)"
                        " VALUES ($1, $2, $3, nullif($4, ''), nullif($5, ''))"
                        " ON CONFLICT (user_id) DO UPDATE SET display_name = coalesce(excluded.display_name, visitors.display_name),"
                        "   email = coalesce(excluded.email, visitors.email), last_visit = now()",
                        {std::to_string(u.int64(0, 0)), desk_id, external, name, email});
                return u.int64(0, 0);
            });
            if (row == 0) return fail(error_code::forbidden, "this visitor cannot be verified here");
            me = row;
        } else {
            if (!p["visitor"].isString() || !valid_anonymous_visitor_name(p["visitor"].asString()))
                return bad("visitor must be v- and 16 to 62 random characters from A-Z a-z 0-9 _ -");
            if (!p["secret"].isString() || p["secret"].asString().size() < min_secret ||
                p["secret"].asString().size() > max_secret)
                return bad("secret must be a text of 16 to 200 bytes the widget keeps");
            visitor = p["visitor"].asString();
            const std::string hash = hex(reinterpret_cast<const unsigned char*>(sha256(p["secret"].asString()).data()), 32);
            me = pg::transaction(db, [&] {
                const bool fresh =
                    db.exec("INSERT INTO users (name, role) VALUES ($1, 'guest') ON CONFLICT (name) DO NOTHING RETURNING id",
                            {visitor})
                        .rows() == 1;
                const auto u = db.exec("SELECT u.id, u.role, v.desk_id, encode(v.secret_hash, 'hex')"
                                       "  FROM users u LEFT JOIN visitors v ON v.user_id = u.id WHERE u.name = $1 FOR UPDATE OF u",
                                       {visitor});
                if (fresh) {
                    db.exec("INSERT INTO visitors (user_id, desk_id, secret_hash) VALUES ($1, $2, decode($3, 'hex'))",
                            {std::to_string(u.int64(0, 0)), desk_id, hash});
                    return u.int64(0, 0);
                }
                // Someone else's name, another desk's visitor, or the wrong
                // secret: the same answer for all, so nothing is learnt.
                if (u.str(0, 1) != "guest" || u.is_null(0, 2) || u.int64(0, 2) != desk.id || u.is_null(0, 3) ||
                    !same_secret(u.str(0, 3), hash))
                    return std::int64_t(0);
                db.exec("UPDATE visitors SET last_visit = now() WHERE user_id = $1", {std::to_string(u.int64(0, 0))});
                return u.int64(0, 0);
            });
            if (me == 0) return fail(error_code::forbidden, "this visitor id is not yours; make a new one");
        }
    }

    // The desk as the widget shows it before and while waiting.
    rpc::request as_visitor = r;
    as_visitor.caller = visitor;
    as_visitor.guest = false;
    as_visitor.site_key.clear();
    as_visitor.params = Json::Value(Json::objectValue);
    as_visitor.params["desk"] = desk.name;
    method_outcome info = desk_info(db, as_visitor, me);
    if (!info.error_code.empty()) return info;
    method_outcome o;
    o.result["visitor"] = visitor;
    o.result["desk"] = info.result;
    o.result["offline_form"] =
        db.exec("SELECT email IS NOT NULL FROM desks WHERE id = $1", {std::to_string(desk.id)}).boolean(0, 0);

    std::int64_t token_for = 0; // the conversation the guest token names
    if (p.isMember("offline")) {
        // "No agent online": the offline form's message goes to the desk by e-mail.
        const Json::Value& f = p["offline"];
        for (const char* key : {"email", "name", "body"})
            if (f.isMember(key)) as_visitor.params[key] = f[key];
        method_outcome sent = desk_offline(db, as_visitor, me);
        if (!sent.error_code.empty()) return sent;
        o.result["offline"] = sent.result;
    } else {
        const auto open = db.exec("SELECT 1 FROM support_conversations"
                                  " WHERE desk_id = $1 AND visitor_id = $2 AND status <> 'closed'",
                                  {std::to_string(desk.id), std::to_string(me)});
        if (start || open.rows() > 0) {
            if (p.isMember("details")) as_visitor.params["details"] = p["details"];
            if (!vouched.empty()) {
                if (!as_visitor.params["details"].isObject()) as_visitor.params["details"] = Json::Value(Json::objectValue);
                for (const auto& key : vouched.getMemberNames()) as_visitor.params["details"][key] = vouched[key];
            }
            method_outcome started = desk_start(db, as_visitor, me);
            if (!started.error_code.empty()) return started;
            o.notices = std::move(started.notices);
            o.result["conversation"] = started.result;
            token_for = started.result["conv"].asInt64();
        }
    }

    // The visitor's conversations at this desk, newest first: a verified
    // visitor finds them on any device (history works for each: it is a member).
    const auto past = db.exec("SELECT s.conv_id, s.status, (extract(epoch FROM s.queued_at) * 1000)::bigint,"
                              "       coalesce(a.name, ''), s.rating"
                              "  FROM support_conversations s LEFT JOIN users a ON a.id = s.assignee_id"
                              " WHERE s.visitor_id = $1 AND s.desk_id = $2 ORDER BY s.conv_id DESC LIMIT $3",
                              {std::to_string(me), std::to_string(desk.id), std::to_string(max_past)});
    Json::Value list(Json::arrayValue);
    for (int i = 0; i < past.rows(); ++i) {
        Json::Value c(Json::objectValue);
        c["conv"] = Json::Int64(past.int64(i, 0));
        c["status"] = past.str(i, 1);
        c["queued_at"] = Json::Int64(past.int64(i, 2));
        if (!past.text(i, 3).empty()) c["agent"] = past.str(i, 3);
        if (!past.is_null(i, 4)) c["rating"] = Json::Int64(past.int64(i, 4));
        list.append(std::move(c));
    }
    o.result["conversations"] = std::move(list);
    // A guest token for the open conversation; with none open, for the
    // newest one, so a returning visitor can read the earlier ones (history
    // answers a member; the plugin lets the token reach that one's topics).
    if (token_for == 0 && past.rows() > 0 && !p.isMember("offline")) token_for = past.int64(0, 0);
    if (token_for != 0) {
        const std::int64_t now =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        Json::Value claims =
            token::base_claims(visitor, now, visitor_tokens_.ttl_s, visitor_tokens_.issuer, visitor_tokens_.audience);
        claims["mqchat_guest_conv"] = Json::Int64(token_for);
        o.result["token"] = token::signer::hs256(visitor_tokens_.secret).sign(claims);
        o.result["token_expires"] = claims["exp"];
    }
    return o;
}

} // namespace mqchat::bridge
