#include "pg_message_store.hpp"

#include "common/json.hpp"
#include "observe/bridge_metrics.hpp"

namespace mqchat::bridge {

pg_message_store::pg_message_store(std::string conninfo) : conninfo_(std::move(conninfo)) {}

void pg_message_store::connect() { db(); }

pg::connection& pg_message_store::db() {
    if (!db_) {
        db_ = std::make_unique<pg::connection>(conninfo_);
        db_->exec("SET client_min_messages = warning");
        db_->exec("SET application_name = 'mqchat-bridge-store'"); // for operators' pg_stat_activity
    }
    return *db_;
}

template <class Fn>
auto pg_message_store::with_db(Fn&& fn) {
    try {
        return fn(db());
    } catch (const pg::broken_connection&) {
        db_.reset(); // the next call reconnects
        throw;
    } catch (const pg::sql_error& e) {
        // 25006: this server is read-only now (a standby after a failover);
        // a new connection may reach the new primary (target_session_attrs).
        if (e.sqlstate == "25006") db_.reset();
        throw;
    }
}

namespace {
/// A JSON column (an attachment's mqchat_media_json, an e2e envelope) as the database wrote it.
Json::Value media_json(std::string_view text) {
    Json::Value v;
    std::string why;
    if (!json::parse(text, v, why)) return Json::Value();
    return v;
}

/// [{"conv", "seq"}, …]: how mark_published and mqchat_queue_push take messages.
template <class Pairs>
std::string conv_seq_json(const Pairs& pairs) {
    Json::Value arr(Json::arrayValue);
    for (const auto& [conv, seq] : pairs) {
        Json::Value v(Json::objectValue);
        v["conv"] = Json::Int64(conv);
        v["seq"] = Json::Int64(seq);
        arr.append(std::move(v));
    }
    return json::write(arr);
}
} // namespace

std::vector<store_result> pg_message_store::store_batch(const std::vector<send_request>& batch,
                                                        const std::function<void(int socket)>& meanwhile) {
    try {
        return store_call(batch, meanwhile);
    } catch (const pg::sql_error& e) {
        if (e.sqlstate != resend_in_batch || batch.size() < 2) throw;
    }
    // A resend among the batch's plain messages (schema/functions/mqchat_store_batch.sql):
    // nothing was stored; each message again on its own, in order, where a
    // resend is told apart. (Any other unique violation fails again there,
    // for the caller to handle as before.)
    bridge_metrics().store_batches_split.inc();
    std::vector<store_result> out;
    out.reserve(batch.size());
    for (const auto& one : batch) out.push_back(store_call({one}, meanwhile).at(0));
    return out;
}

std::vector<store_result> pg_message_store::store_call(const std::vector<send_request>& batch,
                                                       const std::function<void(int socket)>& meanwhile) {
    Json::Value arr(Json::arrayValue);
    for (const auto& r : batch) {
        Json::Value m(Json::objectValue);
        m["conv"] = Json::Int64(r.conv);
        m["sender"] = r.env.sender;
        m["id"] = r.env.id;
        m["body"] = r.env.body;
        if (!r.env.type.empty()) m["type"] = r.env.type;
        if (r.env.reply_to > 0) m["reply_to"] = Json::Int64(r.env.reply_to);
        if (r.env.guest) m["guest"] = true;
        if (r.env.ref > 0) m["ref"] = Json::Int64(r.env.ref);
        if (!r.env.media.empty()) m["media"] = r.env.media;
        if (!r.env.e2e.isNull()) m["e2e"] = r.env.e2e;
        arr.append(std::move(m));
    }
    const std::string payload = json::write(arr);
    return with_db([&](pg::connection& c) {
        // One statement, so one round trip: its implicit transaction is the
        // batch's (nothing is stored if any of it fails).
        const std::string sql = "SELECT idx, status, seq, ts, array_to_string(mentions, ','), members_version, media"
                                "  FROM mqchat_store_batch($1::jsonb)";
        const auto res = c.exec(sql, {payload}, meanwhile);
        if (static_cast<std::size_t>(res.rows()) != batch.size())
            throw pg::error("mqchat_store_batch returned " + std::to_string(res.rows()) + " rows for " +
                            std::to_string(batch.size()) + " messages");
        std::vector<store_result> out(batch.size());
        for (int i = 0; i < res.rows(); ++i) {
            const auto idx = static_cast<std::size_t>(res.int64(i, 0));
            const std::string_view st = res.text(i, 1);
            store_result& r = out.at(idx);
            r.status = st == "stored"       ? store_status::stored
                       : st == "duplicate"  ? store_status::duplicate
                       : st == "not_member" ? store_status::not_member
                       : st == "bad_ref"    ? store_status::bad_ref
                       : st == "not_author" ? store_status::not_author
                       : st == "bad_media"  ? store_status::bad_media
                       : st == "wrong_encryption" ? store_status::wrong_encryption
                                            : store_status::no_conversation;
            if (!res.is_null(i, 2)) r.seq = res.int64(i, 2);
            if (!res.is_null(i, 3)) r.ts = res.int64(i, 3);
            for (std::string_view names = res.text(i, 4); !names.empty();) {
                const auto comma = names.find(',');
                r.mentions.emplace_back(names.substr(0, comma));
                names = comma == std::string_view::npos ? std::string_view() : names.substr(comma + 1);
            }
            if (!res.is_null(i, 5)) r.members_version = res.int64(i, 5);
            if (!res.is_null(i, 6)) r.media = media_json(res.text(i, 6));
        }
        return out;
    });
}

std::vector<stored_message> pg_message_store::unpublished(std::int64_t after_conv, std::int64_t after_seq,
                                                          std::size_t limit) {
    return with_db([&](pg::connection& c) {
        const auto r = c.exec(
            "SELECT m.conv_id, m.seq, m.ts, m.client_id, coalesce(u.name, ''), m.body,"
            "       coalesce(m.type, ''), coalesce(m.reply_to, 0), c.members_version, coalesce(m.ref, 0),"
            "       (SELECT mqchat_media_json(md) FROM media md WHERE md.id = m.media_id), m.e2e"
            "  FROM conversations c"
            "  LEFT JOIN conversation_outbox o ON o.conv_id = c.id"
            "  JOIN messages m ON m.conv_id = c.id AND m.seq > coalesce(o.published_seq, 0)"
            "  LEFT JOIN users u ON u.id = m.sender_id"
            " WHERE c.last_seq > coalesce(o.published_seq, 0) AND (m.conv_id, m.seq) > ($1::bigint, $2::bigint)"
            " ORDER BY m.conv_id, m.seq LIMIT $3",
            {std::to_string(after_conv), std::to_string(after_seq), std::to_string(limit)});
        std::vector<stored_message> out;
        out.reserve(static_cast<std::size_t>(r.rows()));
        for (int i = 0; i < r.rows(); ++i) {
            stored_message m;
            m.conv = r.int64(i, 0);
            m.seq = r.int64(i, 1);
            m.ts = r.int64(i, 2);
            m.id = r.str(i, 3);
            m.sender = r.str(i, 4);
            m.body = r.str(i, 5);
            m.type = r.str(i, 6);
            m.reply_to = r.int64(i, 7);
            m.members_version = r.int64(i, 8);
            m.ref = r.int64(i, 9);
            if (!r.is_null(i, 10)) m.media = media_json(r.text(i, 10));
            if (!r.is_null(i, 11)) m.e2e = media_json(r.text(i, 11));
            out.push_back(std::move(m));
        }
        return out;
    });
}

void pg_message_store::mark_published(const std::map<std::int64_t, std::int64_t>& conv_seq) {
    if (conv_seq.empty()) return;
    const std::string payload = conv_seq_json(conv_seq);
    with_db([&](pg::connection& c) {
        pg::transaction(c, [&] {
            // Losing this on a crash only means a republish that clients drop
            // by seq, so it need not wait for the disk.
            c.exec("SET LOCAL synchronous_commit = off");
            // Its own table (schema/011): no store waits for these rows. A
            // conversation deleted meanwhile is left out; in conversation
            // order, so that two bridges doing this never deadlock.
            c.exec("INSERT INTO conversation_outbox AS o (conv_id, published_seq)"
                   " SELECT v.conv, v.seq FROM jsonb_to_recordset($1::jsonb) AS v(conv bigint, seq bigint)"
                   "   JOIN conversations c ON c.id = v.conv ORDER BY v.conv"
                   " ON CONFLICT (conv_id) DO UPDATE SET published_seq = EXCLUDED.published_seq"
                   "  WHERE o.published_seq < EXCLUDED.published_seq",
                   {payload});
        });
    });
}

void pg_message_store::store_receipts(const std::map<std::pair<std::int64_t, std::string>, receipt>& latest) {
    if (latest.empty()) return;
    Json::Value arr(Json::arrayValue);
    for (const auto& [key, r] : latest) {
        Json::Value v(Json::objectValue);
        v["conv"] = Json::Int64(key.first);
        v["user"] = key.second;
        v["delivered"] = Json::Int64(r.delivered);
        v["read"] = Json::Int64(r.read);
        arr.append(std::move(v));
    }
    const std::string payload = json::write(arr);
    with_db([&](pg::connection& c) {
        c.exec("UPDATE members m"
               "   SET read_seq = greatest(m.read_seq, least(r.read, c.last_seq)),"
               "       delivered_seq = greatest(m.delivered_seq, least(greatest(r.delivered, r.read), c.last_seq))"
               "  FROM jsonb_to_recordset($1::jsonb) AS r(conv bigint, \"user\" text, delivered bigint, read bigint)"
               "  JOIN conversations c ON c.id = r.conv"
               "  JOIN users u ON u.name = r.\"user\""
               " WHERE m.conv_id = r.conv AND m.user_id = u.id",
               {payload});
    });
}

void pg_message_store::store_presence(const std::map<std::string, presence_record>& latest) {
    if (latest.empty()) return;
    Json::Value arr(Json::arrayValue);
    for (const auto& [user, p] : latest) {
        Json::Value v(Json::objectValue);
        v["user"] = user;
        v["state"] = p.state;
        v["devices"] = p.devices;
        if (p.last_seen > 0) v["last_seen"] = Json::Int64(p.last_seen);
        arr.append(std::move(v));
    }
    const std::string payload = json::write(arr);
    with_db([&](pg::connection& c) {
        // last_seen is the time of the last change of state or devices: a
        // retained copy seen again changes nothing, and a user who hides it
        // (no last_seen published) gets the time the bridge saw the change.
        c.exec("INSERT INTO presence AS p (user_id, state, devices, last_seen)"
               " SELECT u.id, r.state, r.devices,"
               "        coalesce(r.last_seen, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)"
               "   FROM jsonb_to_recordset($1::jsonb) AS r(\"user\" text, state text, devices int, last_seen bigint)"
               "   JOIN users u ON u.name = r.\"user\""
               " ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, devices = excluded.devices,"
               "   last_seen = CASE WHEN p.state = excluded.state AND p.devices = excluded.devices"
               "                    THEN p.last_seen ELSE excluded.last_seen END",
               {payload});
    });
}

std::int64_t pg_message_store::queue_push(const std::vector<std::pair<std::int64_t, std::int64_t>>& stored) {
    if (stored.empty()) return 0;
    const std::string payload = conv_seq_json(stored);
    return with_db([&](pg::connection& c) { return c.exec("SELECT mqchat_queue_push($1::jsonb)", {payload}).int64(0, 0); });
}

} // namespace mqchat::bridge
