#pragma once
/// What the bridge writes after a message is delivered, off the
/// store-and-deliver loop: read cursors (receipts), presence, the push
/// queue entries of stored messages, and how far each conversation's
/// messages are published (the outbox's published_seq). None of it is waited for by a member
/// (cursors and last seen are kept for later; a push goes to someone who is
/// offline anyway), a reconnect storm brings thousands at once, and queuing
/// pushes is a join over members and devices. A thread of its own with its
/// own database connection writes them about ten times a second; the ingest
/// loop only hands them over (add_receipt, add_presence, add_pushes) and
/// never waits.
///
/// Each round queues the pushes before it records the published seqs: the
/// ingest loop hands a message's pushes over when it publishes it and its
/// published seq only when the broker has acknowledged it, so a recorded
/// published_seq always has its pushes queued; a crash before that
/// republishes the message at the next start and queues its pushes again.
///
/// Cursors only move forward, presence is only the latest, and a message's
/// pushes are queued once however often it is handed over (the queue is
/// unique per device and message), so writing late, or again after a
/// failure, is harmless. While the database is away at most max_pending of
/// each are kept; beyond that they are dropped (the next receipt or presence
/// of the same member brings it up to date; a dropped push is a lost
/// notification, never a lost message).

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "message_store.hpp"

namespace mqchat::bridge {

class deferred_writer {
public:
    explicit deferred_writer(message_store& store, std::size_t max_pending = 100000);
    ~deferred_writer();
    deferred_writer(const deferred_writer&) = delete;
    deferred_writer& operator=(const deferred_writer&) = delete;

    void add_receipt(std::int64_t conv, const std::string& user, const receipt& r);
    void add_presence(const std::string& user, const presence_record& p);
    /// Stored messages, as (conv, seq), whose pushes are to be queued.
    void add_pushes(const std::vector<std::pair<std::int64_t, std::int64_t>>& stored);
    /// Per conversation, the highest seq the broker has acknowledged.
    void add_published(const std::map<std::int64_t, std::int64_t>& conv_seq);

private:
    using message_ref = std::pair<std::int64_t, std::int64_t>;
    void run();
    bool stopping();
    bool nothing_pending() const; ///< with mutex_ held
    /// With mutex_ held: the later cursors of the two (within max_pending).
    void merge_receipt(const std::pair<std::int64_t, std::string>& key, const receipt& r);
    /// With mutex_ held: puts back what could not be written, under what
    /// has arrived since (newer presence wins, cursors take the maximum).
    void put_back(const std::map<std::pair<std::int64_t, std::string>, receipt>& receipts,
                  std::map<std::string, presence_record>& presence, const std::vector<message_ref>& pushes,
                  const std::map<std::int64_t, std::int64_t>& published);
    void merge_published(const std::map<std::int64_t, std::int64_t>& conv_seq); ///< with mutex_ held

    message_store& store_;
    const std::size_t max_pending_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::map<std::pair<std::int64_t, std::string>, receipt> receipts_;
    std::map<std::string, presence_record> presence_;
    std::vector<message_ref> pushes_;
    std::map<std::int64_t, std::int64_t> published_;
    std::thread thread_;
};

} // namespace mqchat::bridge
