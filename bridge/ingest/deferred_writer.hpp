#pragma once
/// Stores read cursors (receipts) and presence off the store-and-deliver
/// loop: they are kept for later (conv.list's unread counts, last seen),
/// never waited for by a member, and a reconnect storm brings thousands at
/// once. A thread of its own with its own database connection takes the
/// latest of each about ten times a second; the ingest loop only merges
/// what arrives (add_receipt, add_presence) and never waits.
///
/// Cursors only move forward and presence is only the latest, so storing
/// late, or again after a failure, is harmless. While the database is away
/// at most max_pending of each are kept; beyond that they are dropped (the
/// next receipt or presence of the same member brings it up to date).

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "message_store.hpp"

namespace mqchat::bridge {

class member_state_writer {
public:
    explicit member_state_writer(message_store& store, std::size_t max_pending = 100000);
    ~member_state_writer();
    member_state_writer(const member_state_writer&) = delete;
    member_state_writer& operator=(const member_state_writer&) = delete;

    void add_receipt(std::int64_t conv, const std::string& user, const receipt& r);
    void add_presence(const std::string& user, const presence_record& p);

private:
    void run();
    bool stopping();
    /// With mutex_ held: the later cursors of the two (within max_pending).
    void merge_receipt(const std::pair<std::int64_t, std::string>& key, const receipt& r);

    message_store& store_;
    const std::size_t max_pending_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::map<std::pair<std::int64_t, std::string>, receipt> receipts_;
    std::map<std::string, presence_record> presence_;
    std::thread thread_;
};

} // namespace mqchat::bridge
