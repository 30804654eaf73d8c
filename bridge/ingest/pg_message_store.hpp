#pragma once
/// message_store on PostgreSQL: one round trip per batch through
/// mqchat_store_batch() (schema/functions/mqchat_store_batch.sql). Reconnects lazily: after a
/// broken connection the next call opens a new one.

#include <memory>
#include <string>
#include <string_view>

#include "common/pg.hpp"
#include "message_store.hpp"

namespace mqchat::bridge {

class pg_message_store : public message_store {
public:
    explicit pg_message_store(std::string conninfo);

    std::vector<store_result> store_batch(const std::vector<send_request>& batch,
                                          const std::function<void(int socket)>& meanwhile = {}) override;
    std::vector<stored_message> unpublished(std::int64_t after_conv, std::int64_t after_seq,
                                            std::size_t limit) override;
    void mark_published(const std::map<std::int64_t, std::int64_t>& conv_seq) override;
    void store_receipts(const std::map<std::pair<std::int64_t, std::string>, receipt>& latest) override;
    void store_presence(const std::map<std::string, presence_record>& latest) override;
    std::int64_t queue_push(const std::vector<std::pair<std::int64_t, std::int64_t>>& stored) override;

    /// Opens the connection now (throws pg::broken_connection if it cannot).
    void connect();

private:
    /// What mqchat_store_batch fails with when a batch of more than one has a
    /// resend among its plain messages (unique_violation on the messages'
    /// sender and client id): nothing of it is stored.
    static constexpr std::string_view resend_in_batch = "23505";

    /// One call of mqchat_store_batch: one statement, one transaction.
    std::vector<store_result> store_call(const std::vector<send_request>& batch,
                                         const std::function<void(int socket)>& meanwhile = {});
    pg::connection& db();
    template <class Fn>
    auto with_db(Fn&& fn);

    std::string conninfo_;
    std::unique_ptr<pg::connection> db_;
};

} // namespace mqchat::bridge
