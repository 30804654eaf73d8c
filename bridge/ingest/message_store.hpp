#pragma once
/// Where messages are kept: the source of truth (PostgreSQL in production,
/// see pg_message_store). The ingest loop only talks to this interface.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/envelope.hpp"

namespace mqchat::bridge {

/// A checked send, ready to store: the stamped envelope and its conversation.
struct send_request {
    std::int64_t conv = 0;
    send_envelope env; ///< env.sender is the authenticated user
    std::chrono::steady_clock::time_point arrived = {}; ///< when the link took it (store lag)
};

/// `failed`: the database refused this message itself (not a lost connection).
/// `bad_ref`: an edit, delete or reaction about no message (or a deleted one,
/// or another event); `not_author`: an edit or delete of someone else's message;
/// `bad_media`: an attachment whose upload is unknown, someone else's, for
/// another conversation, not (yet) ready, or already sent in a message;
/// `wrong_encryption`: an e2e message in a plain conversation, or a plain one
/// in an end-to-end encrypted conversation.
enum class store_status {
    stored, duplicate, not_member, no_conversation, failed, bad_ref, not_author, bad_media, wrong_encryption
};

struct store_result {
    store_status status = store_status::stored;
    std::int64_t seq = 0; ///< stored / duplicate: the message's seq
    std::int64_t ts = 0;  ///< stored / duplicate: its server time
    std::int64_t members_version = 0; ///< stored: the conversation's membership version (schema/004)
    std::vector<std::string> mentions = {}; ///< stored: members named with @name
    Json::Value media = {}; ///< stored: the attachment as members see it (stored_message::media), or null
};

/// What the plugin last published on a user's presence topic.
struct presence_record {
    std::string state;
    int devices = 0;
    std::int64_t last_seen = 0; ///< 0: the user hides it
};

class message_store {
public:
    virtual ~message_store() = default;

    /// Stores a batch in one transaction, in order; one result per request.
    /// Requests must be ordered by conv (lock order across bridges).
    /// Throws pg::broken_connection when the database is gone: nothing or
    /// everything of the batch may have been committed, so the caller retries
    /// the whole batch (duplicates come back as such) and republishes.
    /// `meanwhile(socket)`, when given, is called while the database works
    /// (pg::connection::exec says how).
    virtual std::vector<store_result> store_batch(const std::vector<send_request>& batch,
                                                  const std::function<void(int socket)>& meanwhile = {}) = 0;

    /// Stored messages the broker has not acknowledged yet, in (conv, seq)
    /// order, strictly after (after_conv, after_seq).
    virtual std::vector<stored_message> unpublished(std::int64_t after_conv, std::int64_t after_seq,
                                                    std::size_t limit) = 0;

    /// Records that the broker acknowledged everything up to seq per conv.
    /// Never waits for a store: the outbox rows are not the rows it locks.
    virtual void mark_published(const std::map<std::int64_t, std::int64_t>& conv_seq) = 0;

    /// Moves members' delivered / read cursors forward (never back, never
    /// past the conversation's last seq). Keyed by (conv, user name).
    virtual void store_receipts(const std::map<std::pair<std::int64_t, std::string>, receipt>& latest) = 0;

    /// Queues pushes for stored messages (conv, seq) to the members who should
    /// get one (schema/functions/mqchat_queue_push.sql). Queuing the same message again
    /// adds nothing. Returns how many were queued.
    virtual std::int64_t queue_push(const std::vector<std::pair<std::int64_t, std::int64_t>>& stored) = 0;

    /// Keeps each user's latest presence (table presence), by user name.
    virtual void store_presence(const std::map<std::string, presence_record>& latest) = 0;
};

} // namespace mqchat::bridge
