#include "pg_requests.hpp"


#include "common/json.hpp"
#include "request_helpers.hpp"
#include "common/log.hpp"

namespace mqchat::bridge {

using namespace request_helpers;

pg_requests::pg_requests(std::string conninfo, const topic_names& topics, std::function<void()> queue_changed,
                         visitor_token_settings visitor_tokens, replica_settings replica, media_settings media)
    : conninfo_(std::move(conninfo)), topics_(topics), visitor_tokens_(std::move(visitor_tokens)),
      media_(std::move(media)),
      queue_changed_(std::move(queue_changed)),
      replica_(replica.conninfo.empty() ? nullptr
                                        : std::make_unique<read_replica>(replica.conninfo, replica.max_lag)),
      methods_{{"conv.list", &pg_requests::conv_list},
               {"conv.create", &pg_requests::conv_create},
               {"conv.add_member", &pg_requests::conv_add_member},
               {"conv.remove_member", &pg_requests::conv_remove_member},
               {"conv.leave", &pg_requests::conv_leave},
               {"conv.rename", &pg_requests::conv_rename},
               {"conv.members", &pg_requests::conv_members},
               {"history", &pg_requests::history},
               {"sync", &pg_requests::sync},
               {"search", &pg_requests::search},
               {"thread", &pg_requests::thread},
               {"presence.set", &pg_requests::presence_set},
               {"push.register", &pg_requests::push_register},
               {"push.unregister", &pg_requests::push_unregister},
               {"push.settings", &pg_requests::push_settings},
               {"conv.notify", &pg_requests::conv_notify},
               {"email.set", &pg_requests::email_set},
               {"desk.start", &pg_requests::desk_start},
               {"desk.queue", &pg_requests::desk_queue},
               {"desk.claim", &pg_requests::desk_claim},
               {"desk.mine", &pg_requests::desk_mine},
               {"desk.close", &pg_requests::desk_close},
               {"desk.reopen", &pg_requests::desk_reopen},
               {"desk.rate", &pg_requests::desk_rate},
               {"desk.transfer", &pg_requests::desk_transfer},
               {"desk.note", &pg_requests::desk_note},
               {"desk.notes", &pg_requests::desk_notes},
               {"desk.info", &pg_requests::desk_info},
               {"desk.list", &pg_requests::desk_list},
               {"desk.canned", &pg_requests::desk_canned},
               {"desk.offline", &pg_requests::desk_offline},
               {"desk.transcript", &pg_requests::desk_transcript},
               {"desk.visitor", &pg_requests::desk_visitor},
               {"desk.agents", &pg_requests::desk_agents},
               {"desk.kb", &pg_requests::desk_kb},
               {"desk.assistant", &pg_requests::desk_assistant},
               {"desk.handoff", &pg_requests::desk_handoff},
               {"desk.to_bot", &pg_requests::desk_to_bot},
               {"desk.card", &pg_requests::desk_card},
               {"media.upload", &pg_requests::media_upload},
               {"media.url", &pg_requests::media_url},
               {"keys.upload", &pg_requests::keys_upload},
               {"keys.count", &pg_requests::keys_count},
               {"keys.claim", &pg_requests::keys_claim},
               {"devices.list", &pg_requests::devices_list},
               {"devices.remove", &pg_requests::devices_remove}} {}

pg::connection& pg_requests::db() {
    if (!db_) {
        db_ = std::make_unique<pg::connection>(conninfo_);
        db_->exec("SET application_name = 'mqchat-bridge-requests'"); // one per request thread
    }
    return *db_;
}

outgoing_message pg_requests::notice(const std::string& user, const Json::Value& body) const {
    return {topics_.inbox(user), json::write(body), ""};
}

std::vector<outgoing_message> pg_requests::handle(const rpc::request& r) {
    method_outcome o;
    const auto m = methods_.find(r.method);
    auto answer = [&](pg::connection& c) {
        if (r.method == "desk.visit") return desk_visit(c, r); // a web visitor knocking has no row yet
        const auto me = c.exec("SELECT id FROM users WHERE name = $1", {r.caller});
        // A guest has no row until its first message; it is a member of nothing yet.
        return me.rows() == 0 ? fail(error_code::not_member, "you are not a member of any conversation yet")
                              : (this->*(m->second))(c, r, me.int64(0, 0));
    };
    if (m == methods_.end() && r.method != "desk.visit") {
        o = fail(error_code::unknown_method, "no method '" + r.method + "'");
    } else {
        try {
            pg::connection* replica =
                replica_ && read_replica::suits(r.method, r.params) ? replica_->usable() : nullptr;
            if (replica) {
                try {
                    o = answer(*replica);
                } catch (const pg::broken_connection& e) {
                    log::warning() << "request " << r.method << " on the read replica: " << e.what()
                              << "; the primary answers";
                    replica_->broken();
                    o = answer(db());
                }
            } else {
                o = answer(db());
            }
        } catch (const pg::broken_connection& e) {
            db_.reset();
            log::warning() << "request " << r.method << " of " << r.caller << ": database unavailable ("
                      << e.what() << ")";
            o = fail(error_code::internal, "the database is unavailable; try again");
        } catch (const pg::error& e) {
            log::warning() << "request " << r.method << " of " << r.caller << " failed: " << e.what();
            try {
                db().exec("ROLLBACK");
            } catch (const pg::error&) {
                db_.reset();
            }
            o = fail(error_code::internal, "the server could not answer this request");
        }
    }
    if (o.error_code.empty() && queue_changed_ &&
        (r.method == "desk.start" || r.method == "desk.visit" || r.method == "desk.reopen" || r.method == "desk.close" ||
         r.method == "desk.transfer" || r.method == "desk.handoff" || r.method == "desk.claim"))
        queue_changed_();
    std::vector<outgoing_message> out;
    out.push_back({topics_.inbox(r.caller),
                   o.error_code.empty() ? rpc::result_json(r, o.result)
                                        : rpc::error_json(r, o.error_code, o.error_message),
                   r.corr_data});
    for (auto& n : o.notices) out.push_back(std::move(n));
    return out;
}

std::string pg_requests::history_before_sql() {
    return std::string("SELECT ") + message_columns +
           " FROM messages m LEFT JOIN users u ON u.id = m.sender_id"
           " WHERE m.conv_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3";
}

std::string pg_requests::sync_sql() {
    // Per conversation at most a page (an index range on the primary key),
    // then the page across them: never more than conversations × page rows,
    // however much a conversation holds after its cursor.
    return std::string("SELECT ") + message_columns +
           " FROM (SELECT mb.conv_id, coalesce(($2::jsonb ->> mb.conv_id::text)::bigint, 0) AS after"
           "         FROM members mb WHERE mb.user_id = $1) c"
           " JOIN LATERAL (SELECT * FROM messages x WHERE x.conv_id = c.conv_id AND x.seq > c.after"
           "                ORDER BY x.seq LIMIT $3) m ON true"
           " LEFT JOIN users u ON u.id = m.sender_id"
           " ORDER BY m.conv_id, m.seq LIMIT $3";
}

} // namespace mqchat::bridge
