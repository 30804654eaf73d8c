#include "data_rights.hpp"

#include <sodium.h>

#include <memory>
#include <ostream>
#include <utility>
#include <vector>

#include <json/json.h>

#include "common/names.hpp"

namespace mqchat::admin {

namespace {

struct found_user {
    std::int64_t id = 0;
    std::string role;
    bool erased = false;
};

found_user find_user(pg::connection& db, const std::string& name, bool lock) {
    if (!valid_user_name(name))
        throw failure("invalid user name '" + name +
                      "': use 1-64 characters from A-Z a-z 0-9 . _ @ -, starting with a letter or digit");
    const auto r = db.exec(lock ? "SELECT id, role, erased_at IS NOT NULL FROM users WHERE name = $1 FOR UPDATE"
                                : "SELECT id, role, erased_at IS NOT NULL FROM users WHERE name = $1",
                           {name});
    if (r.rows() == 0) throw failure("no user named '" + name + "'");
    return {r.int64(0, 0), r.str(0, 1), r.boolean(0, 2)};
}

Json::Value parse_json(const std::string& text) {
    Json::CharReaderBuilder builder;
    builder["stackLimit"] = 1000;
    std::unique_ptr<Json::CharReader> reader(builder.newCharReader());
    Json::Value v;
    std::string errors;
    if (!reader->parse(text.data(), text.data() + text.size(), &v, &errors))
        throw failure("the database returned JSON that does not parse: " + errors);
    return v;
}

// Each section is one query answering one json value (an array, an object
// or null) about user $1; the document is assembled from them in this order.
const std::vector<std::pair<const char*, const char*>>& sections() {
    static const std::vector<std::pair<const char*, const char*>> all = {
        {"user",
         "SELECT row_to_json(x) FROM (SELECT id, name, role, created_at, banned, erased_at, email,"
         " push_preview, desk_supervisor FROM users WHERE id = $1) x"},
        {"memberships",
         "SELECT coalesce(json_agg(x ORDER BY x.conv), '[]') FROM ("
         " SELECT m.conv_id AS conv, c.kind, c.title, m.role, m.joined_at, c.last_seq, m.read_seq,"
         "        m.delivered_seq, m.emailed_seq, m.notify, m.muted_until"
         "   FROM members m JOIN conversations c ON c.id = m.conv_id WHERE m.user_id = $1) x"},
        {"messages",
         "SELECT coalesce(json_agg(x ORDER BY x.conv, x.seq), '[]') FROM ("
         " SELECT conv_id AS conv, seq, ts, client_id AS id, type, body, reply_to, ref, edited_at, deleted, media_id AS media, e2e"
         "   FROM messages WHERE sender_id = $1) x"},
        // Their uploads: what each is and where its bytes are (the media
        // service's storage holds them under sha256; docs/data-rights.md).
        {"media",
         "SELECT coalesce(json_agg(x ORDER BY x.created_at, x.id), '[]') FROM ("
         " SELECT id, conv_id AS conv, seq, status, declared_name AS name, declared_type, mime, size, width, height,"
         "        sha256, thumb_sha256, created_at, refusal"
         "   FROM media WHERE uploader_id = $1) x"},
        {"reactions",
         "SELECT coalesce(json_agg(x ORDER BY x.conv, x.seq, x.reaction), '[]') FROM ("
         " SELECT conv_id AS conv, seq, reaction FROM reactions WHERE user_id = $1) x"},
        {"mentions",
         "SELECT coalesce(json_agg(x ORDER BY x.conv, x.seq), '[]') FROM ("
         " SELECT conv_id AS conv, seq FROM mentions WHERE user_id = $1) x"},
        {"devices",
         "SELECT coalesce(json_agg(x ORDER BY x.id), '[]') FROM ("
         " SELECT id, platform, token, app_id, locale, created_at FROM push_devices WHERE user_id = $1) x"},
        {"pending_pushes",
         "SELECT coalesce(json_agg(x ORDER BY x.id), '[]') FROM ("
         " SELECT q.id, q.device_id AS device, q.conv_id AS conv, q.seq, q.payload, q.attempts"
         "   FROM push_queue q JOIN push_devices d ON d.id = q.device_id WHERE d.user_id = $1) x"},
        {"presence",
         "SELECT row_to_json(x) FROM (SELECT state, devices, last_seen FROM presence WHERE user_id = $1) x"},
        {"presence_settings",
         "SELECT row_to_json(x) FROM (SELECT status, status_text, hide_last_seen FROM presence_settings"
         " WHERE user_id = $1) x"},
        {"login_digest",
         "SELECT row_to_json(x) FROM (SELECT updated_at FROM login_digests WHERE user_id = $1) x"},
        {"visitor",
         "SELECT row_to_json(x) FROM (SELECT d.name AS desk,"
         " CASE WHEN v.external_id IS NULL THEN 'anonymous' ELSE 'verified' END AS identity,"
         " v.external_id, v.display_name, v.email, v.created_at, v.last_visit"
         " FROM visitors v JOIN desks d ON d.id = v.desk_id WHERE v.user_id = $1) x"},
        {"support_conversations",
         "SELECT coalesce(json_agg(x ORDER BY x.conv), '[]') FROM ("
         " SELECT s.conv_id AS conv, d.name AS desk, s.status, s.details, s.queued_at, s.assigned_at, s.closed_at,"
         "        a.name AS agent, s.rating, s.rating_comment, s.handoff"
         "   FROM support_conversations s JOIN desks d ON d.id = s.desk_id"
         "   LEFT JOIN users a ON a.id = s.assignee_id WHERE s.visitor_id = $1) x"},
        {"desk_roles",
         "SELECT json_build_object("
         " 'supervisor', (SELECT desk_supervisor FROM users WHERE id = $1),"
         " 'agent_of', (SELECT coalesce(json_agg(x ORDER BY x.desk), '[]') FROM ("
         "     SELECT d.name AS desk, a.capacity, a.last_assigned_at FROM desk_agents a"
         "       JOIN desks d ON d.id = a.desk_id WHERE a.user_id = $1) x),"
         " 'assistant_of', (SELECT coalesce(json_agg(d.name ORDER BY d.name), '[]') FROM desk_assistants a"
         "     JOIN desks d ON d.id = a.desk_id WHERE a.bot_id = $1),"
         " 'assigned', (SELECT coalesce(json_agg(x ORDER BY x.conv), '[]') FROM ("
         "     SELECT s.conv_id AS conv, d.name AS desk, s.status, s.assigned_at, s.closed_at"
         "       FROM support_conversations s JOIN desks d ON d.id = s.desk_id WHERE s.assignee_id = $1) x),"
         " 'notes_written', (SELECT coalesce(json_agg(x ORDER BY x.id), '[]') FROM ("
         "     SELECT id, conv_id AS conv, body, created_at FROM support_notes WHERE author_id = $1) x))"},
        {"desk_mail",
         "SELECT coalesce(json_agg(x ORDER BY x.id), '[]') FROM ("
         " SELECT m.id, m.kind, d.name AS desk, m.conv_id AS conv, m.recipient, m.reply_to, m.subject, m.body,"
         "        m.created_at"
         "   FROM desk_mail m JOIN desks d ON d.id = m.desk_id WHERE m.requester_id = $1) x"},
        {"desk_mail_sent",
         "SELECT coalesce(json_agg(x ORDER BY x.at), '[]') FROM ("
         " SELECT kind, conv_id AS conv, at FROM desk_mail_sent_log WHERE requester_id = $1) x"},
        // Their end-to-end encryption devices: public keys only (schema/024).
        {"e2e_devices",
         "SELECT coalesce(json_agg(x ORDER BY x.created_at, x.device), '[]') FROM ("
         " SELECT d.device, d.signing_key, d.identity_key, d.signature, d.created_at, d.last_seen,"
         "        (SELECT count(*) FROM e2e_one_time_keys k WHERE k.device_id = d.id AND k.claimed_at IS NULL)"
         "          AS one_time_keys,"
         "        (SELECT count(*) FROM e2e_one_time_keys k WHERE k.device_id = d.id AND k.claimed_at IS NOT NULL)"
         "          AS one_time_keys_claimed,"
         "        (SELECT row_to_json(f) FROM (SELECT key_id, key, uploaded_at, used_at FROM e2e_fallback_keys"
         "          WHERE device_id = d.id) f) AS fallback_key"
         "   FROM e2e_devices d WHERE d.user_id = $1) x"},
    };
    return all;
}

std::string pseudonym() {
    unsigned char raw[8];
    randombytes_buf(raw, sizeof raw);
    static const char* hex = "0123456789abcdef";
    std::string name = "erased-";
    for (unsigned char b : raw) {
        name += hex[b >> 4];
        name += hex[b & 15];
    }
    return name;
}

} // namespace

void user_export(pg::connection& db, const std::string& name, std::ostream& out) {
    Json::Value doc(Json::objectValue);
    pg::transaction(db, [&] {
        db.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        db.exec("SET LOCAL TimeZone = 'UTC'");
        const found_user u = find_user(db, name, false);
        const std::string id = std::to_string(u.id);
        doc["format"] = "mqchat-user-export";
        doc["version"] = export_format_version;
        doc["exported_at"] = parse_json(db.exec("SELECT to_json(now())").str(0, 0));
        for (const auto& [key, sql] : sections()) {
            const auto r = db.exec(sql, {id});
            doc[key] = r.rows() == 0 || r.is_null(0, 0) ? Json::Value(Json::nullValue) : parse_json(r.str(0, 0));
        }
    });
    Json::StreamWriterBuilder w;
    w["indentation"] = "  ";
    w["emitUTF8"] = true;
    std::unique_ptr<Json::StreamWriter> writer(w.newStreamWriter());
    writer->write(doc, &out);
    out << "\n";
}

void user_erase(pg::connection& db, const std::string& name, bool confirmed, std::ostream& out) {
    if (!confirmed)
        throw failure("erasing " + name +
                      " cannot be undone: the text of their messages, their devices, e-mail address, presence,"
                      " visitor details and memberships go, and the account becomes a placeholder no one can log in"
                      " with. Export it first (mqchat-admin user export " +
                      name + " --out FILE) if it is wanted, then add --yes-erase-forever. Nothing was changed.");
    if (sodium_init() < 0) throw failure("libsodium failed to initialise");
    const std::string placeholder = pseudonym();
    struct counts {
        std::int64_t messages = 0, devices = 0, memberships = 0, support = 0, media = 0;
    } n;
    pg::transaction(db, [&] {
        const found_user u = find_user(db, name, true);
        if (u.role == "bridge")
            throw failure("'" + name + "' is the bridge's identity, not a person: it is not erased (nothing was changed)");
        if (u.role == "bot")
            throw failure("'" + name + "' is an assistant (role bot), not a person: it is not erased (nothing was changed)");
        if (u.erased) throw failure("'" + name + "' was erased already");
        const std::string id = std::to_string(u.id);

        // Their messages become tombstones, as a delete leaves them
        // (docs/protocol.md: "deleted": true, "body": ""), at the same
        // conv and seq; the client's id goes too. What hangs on them goes
        // as with a delete: reactions, mentions, and pushes not sent yet.
        n.messages = db.exec(
            "WITH theirs AS ("
            "  UPDATE messages SET body = '', deleted = true, client_id = 'erased-' || seq,"
            "         search = ''::tsvector"
            "   WHERE sender_id = $1 RETURNING conv_id, seq),"
            " r AS (DELETE FROM reactions x USING theirs t WHERE x.conv_id = t.conv_id AND x.seq = t.seq),"
            " m AS (DELETE FROM mentions x USING theirs t WHERE x.conv_id = t.conv_id AND x.seq = t.seq),"
            " p AS (DELETE FROM push_queue x USING theirs t WHERE x.conv_id = t.conv_id AND x.seq = t.seq)"
            " SELECT count(*) FROM theirs",
            {id}).int64(0, 0);
        db.exec("DELETE FROM reactions WHERE user_id = $1", {id});
        db.exec("DELETE FROM mentions WHERE user_id = $1", {id});
        // Their uploads, sent or not: detached from every conversation, so
        // no member may fetch them from now on and the media service's
        // sweeper removes the rows and the bytes at its next round.
        n.media = db.exec("WITH d AS (UPDATE media SET conv_id = NULL WHERE uploader_id = $1 RETURNING 1)"
                          " SELECT count(*) FROM d",
                          {id}).int64(0, 0);

        n.devices = db.exec("WITH d AS (DELETE FROM push_devices WHERE user_id = $1 RETURNING 1) SELECT count(*) FROM d",
                            {id}).int64(0, 0);
        // Their end-to-end encryption devices and keys (public, but theirs).
        db.exec("DELETE FROM e2e_devices WHERE user_id = $1", {id});
        db.exec("DELETE FROM e2e_claim_rate WHERE user_id = $1", {id});
        db.exec("DELETE FROM presence WHERE user_id = $1", {id});
        db.exec("DELETE FROM presence_settings WHERE user_id = $1", {id});
        db.exec("DELETE FROM login_digests WHERE user_id = $1", {id});

        // As a visitor: the identity, the pre-chat answers, comments, the
        // assistant's card, the notes about them and mail to them; an open
        // conversation is closed (no one waits for them any more).
        n.support = db.exec(
            "WITH s AS (UPDATE support_conversations SET details = '{}', rating_comment = NULL, handoff = NULL,"
            "                  status = 'closed', closed_at = coalesce(closed_at, now())"
            "            WHERE visitor_id = $1 RETURNING conv_id),"
            " n AS (DELETE FROM support_notes x USING s WHERE x.conv_id = s.conv_id),"
            " m AS (DELETE FROM desk_mail x USING s WHERE x.conv_id = s.conv_id)"
            " SELECT count(*) FROM s",
            {id}).int64(0, 0);
        db.exec("DELETE FROM visitors WHERE user_id = $1", {id});
        // As an agent: their notes, their desks; what they held open waits
        // in the queue for someone else.
        db.exec("DELETE FROM support_notes WHERE author_id = $1", {id});
        db.exec("DELETE FROM desk_agents WHERE user_id = $1", {id});
        db.exec("UPDATE support_conversations SET status = 'queued', assignee_id = NULL, assigned_at = NULL,"
                " queued_at = now(), announced = false WHERE assignee_id = $1 AND status = 'assigned'",
                {id});
        db.exec("DELETE FROM desk_mail WHERE requester_id = $1", {id});
        db.exec("DELETE FROM desk_mail_sent_log WHERE requester_id = $1", {id});

        // Memberships, while the row still has the old name (the plugin's
        // member- notices name it). A group they were the last admin of
        // gets its longest-standing member as admin, as when one leaves.
        const auto admin_of = db.exec(
            "SELECT coalesce(array_agg(m.conv_id), '{}') FROM members m JOIN conversations c ON c.id = m.conv_id"
            " WHERE m.user_id = $1 AND m.role = 'admin' AND c.kind = 'group'",
            {id});
        n.memberships = db.exec("WITH d AS (DELETE FROM members WHERE user_id = $1 RETURNING 1) SELECT count(*) FROM d",
                                {id}).int64(0, 0);
        db.exec("UPDATE members SET role = 'admin' FROM ("
                "  SELECT DISTINCT ON (conv_id) conv_id, user_id FROM members"
                "   WHERE conv_id = ANY ($1::bigint[])"
                "     AND conv_id NOT IN (SELECT conv_id FROM members WHERE role = 'admin' AND conv_id = ANY ($1::bigint[]))"
                "   ORDER BY conv_id, joined_at, user_id) first"
                " WHERE members.conv_id = first.conv_id AND members.user_id = first.user_id",
                {admin_of.str(0, 0)});

        // The placeholder: a random name (others' history shows it as the
        // sender), banned, no password anyone can match, no e-mail. The
        // rename tells every broker 'user- <old name>': its clients are
        // disconnected, as for a deleted user.
        db.exec("UPDATE conversations SET direct_key ="
                "   least($2 COLLATE \"C\", other COLLATE \"C\") || ' ' || greatest($2 COLLATE \"C\", other COLLATE \"C\")"
                "  FROM (SELECT id AS cid, CASE WHEN split_part(direct_key, ' ', 1) = $1 THEN split_part(direct_key, ' ', 2)"
                "                               ELSE split_part(direct_key, ' ', 1) END AS other"
                "          FROM conversations WHERE kind = 'direct' AND $1 IN (split_part(direct_key, ' ', 1),"
                "                                                               split_part(direct_key, ' ', 2))) d"
                " WHERE conversations.id = d.cid",
                {name, placeholder});
        db.exec("UPDATE users SET name = $2, email = NULL, password_hash = '$argon2id$erased', banned = true,"
                " push_preview = true, desk_supervisor = false, erased_at = now() WHERE id = $1",
                {id, placeholder});
        db.exec("INSERT INTO erased_names (name_hash) VALUES (sha256(convert_to($1, 'UTF8'))) ON CONFLICT DO NOTHING",
                {name});
    });
    out << "erased " << name << ": " << n.messages << " messages are tombstones now, " << n.media
        << " uploads go with the media service's next sweep, " << n.devices << " devices, "
        << n.memberships << " memberships and " << n.support
        << " support conversations' details removed; the account is the placeholder " << placeholder
        << " (banned, no login); the name " << name << " is not given out again\n";
}

} // namespace mqchat::admin
