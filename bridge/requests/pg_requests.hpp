#pragma once
/// request_handler on PostgreSQL: conversations, history, sync, search,
/// threads, the caller's settings, support desks, attachments and the key directory (one file per concern:
/// requests_*.cpp)
/// (docs/protocol.md, "Requests"). Every method checks, in the database, that
/// the caller may see what it asks for; a caller who is not a member of a
/// conversation learns nothing about it beyond `not_member`.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/pg.hpp"
#include "common/topics.hpp"
#include "read_replica.hpp"
#include "request_handler.hpp"

namespace mqchat::bridge {

/// A method's answer: a result, or an error code and message.
struct method_outcome {
    Json::Value result;
    std::string_view error_code; ///< empty: success
    std::string error_message;
    std::vector<outgoing_message> notices; ///< to other users, after the reply
};

/// How desk.visit signs the guest tokens it hands web visitors (empty
/// secret: it refuses; bridge_config has the options).
struct visitor_token_settings {
    std::string secret;
    std::int64_t ttl_s = 24 * 3600;
    std::string issuer, audience;
};

/// A streaming replica for the requests that only read (read_replica.hpp);
/// empty conninfo: none.
struct replica_settings {
    std::string conninfo;
    std::chrono::milliseconds max_lag{2000};
};

/// Attachments (docs/media.md): where the media service is, the secret its
/// URLs are signed with, and the server's policy (a desk may narrow it).
/// Empty base_url: media.upload and media.url refuse.
struct media_settings {
    std::string base_url; ///< what clients use, e.g. https://chat.example.com/media-service
    std::string url_secret;
    std::int64_t max_bytes = 25 << 20;
    std::vector<std::string> types;
    std::int64_t quota_bytes_per_day = std::int64_t(500) << 20;
    int upload_ttl_s = 600;
    int url_ttl_s = 3600;
};

class pg_requests : public request_handler {
public:
    /// `queue_changed` (may be empty) is called after a request put a support
    /// conversation in a desk's queue, took one out of it or freed an agent's
    /// capacity (the desk router then runs at once rather than at its next
    /// round, and the visitors still waiting hear their new places).
    pg_requests(std::string conninfo, const topic_names& topics, std::function<void()> queue_changed = {},
                visitor_token_settings visitor_tokens = {}, replica_settings replica = {}, media_settings media = {});
    std::vector<outgoing_message> handle(const rpc::request& r) override;
    bool answers(std::string_view name) const override {
        return methods_.find(name) != methods_.end() || name == "desk.visit";
    }

    /// The statements behind `history` (a page before $2 in conversation $1,
    /// $3 rows) and `sync` ($1 the caller's id, $2 the cursors as JSON, $3
    /// rows), for the benchmark's EXPLAIN: what the requests run, verbatim.
    static std::string history_before_sql();
    static std::string sync_sql();

private:
    using method = method_outcome (pg_requests::*)(pg::connection&, const rpc::request&, std::int64_t caller_id);
    pg::connection& db();

    method_outcome conv_list(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome conv_create(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome conv_add_member(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome conv_remove_member(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome conv_leave(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome conv_rename(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome conv_members(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome history(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome sync(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome search(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome thread(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome presence_set(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome push_register(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome push_unregister(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome push_settings(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome conv_notify(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome email_set(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_start(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_queue(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_claim(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_mine(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_close(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_reopen(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_rate(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_transfer(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_note(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_notes(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_info(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_list(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_canned(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_offline(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_transcript(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_visitor(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_agents(pg::connection& db, const rpc::request& r, std::int64_t me);
    // The desk's assistant (requests_assistant.cpp).
    method_outcome desk_kb(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_assistant(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_handoff(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_to_bot(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome desk_card(pg::connection& db, const rpc::request& r, std::int64_t me);
    // Attachments (requests_media.cpp).
    method_outcome media_upload_encrypted(pg::connection& db, const rpc::request& r, std::int64_t me, std::int64_t conv);
    /// The upload's row (within the day's quota and the open uploads' limit) and its signed URL.
    method_outcome grant_upload(pg::connection& db, std::int64_t me, std::int64_t conv, const std::string& name,
                                const std::string& type, std::int64_t size, std::int64_t max_bytes,
                                const std::vector<std::string>& types, bool encrypted);
    method_outcome media_upload(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome media_url(pg::connection& db, const rpc::request& r, std::int64_t me);
    // The key directory for end-to-end encryption (requests_keys.cpp).
    method_outcome keys_upload(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome keys_count(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome keys_claim(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome devices_list(pg::connection& db, const rpc::request& r, std::int64_t me);
    method_outcome devices_remove(pg::connection& db, const rpc::request& r, std::int64_t me);
    /// A web visitor's identity and conversation (requests_visitors.cpp):
    /// called before the caller has a row of its own, so without `me`.
    method_outcome desk_visit(pg::connection& db, const rpc::request& r);

    outgoing_message notice(const std::string& user, const Json::Value& body) const;
    /// {"notice": "devices.changed", "user", "device", "change"} for the
    /// user itself and everyone who shares a conversation with it.
    std::vector<outgoing_message> device_change_notices(pg::connection& db, std::int64_t me, const std::string& user,
                                                        const std::string& device, std::string_view change) const;
    /// desk.info's "attachments" of a desk_overview row: {"max_bytes",
    /// "types"} (the desk's, else the server's), or null when this server
    /// takes none — so a widget shows its attach button only when it may.
    Json::Value attachments_of(const pg::result& row, int i) const;

    std::string conninfo_;
    const topic_names& topics_;
    visitor_token_settings visitor_tokens_;
    media_settings media_;
    std::unique_ptr<pg::connection> db_;
    std::function<void()> queue_changed_;
    std::unique_ptr<read_replica> replica_; ///< null: every request on the primary
    const std::map<std::string, method, std::less<>> methods_;
};

} // namespace mqchat::bridge
