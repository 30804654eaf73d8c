#include "ingest.hpp"

#include <poll.h>

#include <algorithm>
#include <thread>

#include "common/json.hpp"
#include "common/names.hpp"
#include "common/pg.hpp"
#include "common/log.hpp"
#include "observe/bridge_metrics.hpp"

namespace mqchat::bridge {

namespace {
constexpr std::size_t outbox_page = 1000;

/// What the bridge does about a database error while storing a batch
/// (docs/protocol.md, Errors, says what the sender sees):
enum class sql_failure {
    wait,     ///< the database cannot store anything now (disk full, out of memory,
              ///< I/O error, read-only after a failover): keep the batch, retry until it can
    conflict, ///< another writer or a timeout got in the way: retry a few times, then one by one
    refused,  ///< the database refuses something in the batch itself: store one by one
              ///< and refuse only the message it will not take (internal_error)
};
constexpr int max_conflicts = 6;

sql_failure classify(const std::string& sqlstate) {
    const std::string cls = sqlstate.substr(0, 2);
    if (cls == "53" || cls == "58" || sqlstate == "25006") return sql_failure::wait;
    // 40001 serialization failure, 40P01 deadlock; 23505: a resend stored by
    // another bridge meanwhile, a duplicate at the next try; 55P03 lock not
    // available, 57014 statement timeout.
    if (cls == "40" || sqlstate == "23505" || sqlstate == "55P03" || sqlstate == "57014") return sql_failure::conflict;
    return sql_failure::refused;
}

std::string_view status_name(store_status s) {
    switch (s) {
    case store_status::stored: return "stored";
    case store_status::duplicate: return "duplicate";
    case store_status::not_member: return "not_member";
    case store_status::no_conversation: return "no_conversation";
    case store_status::failed: return "failed";
    case store_status::bad_ref: return "bad_ref";
    case store_status::not_author: return "not_author";
    case store_status::bad_media: return "bad_media";
    case store_status::wrong_encryption: return "wrong_encryption";
    }
    return "?";
}
/// Steady-clock ns of the earliest arrival in the batch (0 when unknown).
std::int64_t oldest_arrival(const std::vector<send_request>& batch) {
    std::int64_t oldest = 0;
    for (const auto& r : batch) {
        const std::int64_t at =
            std::chrono::duration_cast<std::chrono::nanoseconds>(r.arrived.time_since_epoch()).count();
        if (at != 0 && (oldest == 0 || at < oldest)) oldest = at;
    }
    return oldest;
}
} // namespace

ingest::ingest(message_store& store, mqtt_link& link, request_pool& requests, deferred_writer& deferred,
               const topic_names& topics, std::size_t batch_max, std::chrono::microseconds store_linger)
    : store_(store), link_(link), requests_(requests), deferred_(deferred), topics_(topics),
      batch_max_(batch_max), pacer_(store_linger) {}

void ingest::run(const std::atomic<bool>& stop) {
    std::vector<send_request> batch;
    while (!stop) {
        heartbeat_.turned();
        if (link_.take_reconnected()) resync_ = true;
        if (resync_) republish_outbox(stop);
        track_publishes();

        collect(batch);
        if (batch.empty()) {
            hand_over_published();
            continue;
        }
        const auto started = std::chrono::steady_clock::now();
        heartbeat_.storing_since_ns.store(oldest_arrival(batch), std::memory_order_relaxed);
        const auto results = store_with_retry(batch, stop);
        heartbeat_.storing_since_ns.store(0, std::memory_order_relaxed);
        if (results.size() != batch.size()) return; // stopping
        pacer_.stored(std::chrono::steady_clock::now() - started);
        const double took = metrics::seconds_since(started);
        bridge_metrics().store_batch_seconds.observe(took);
        bridge_metrics().store_batch_messages.observe(static_cast<double>(batch.size()));
        log::debug() << "stored a batch of " << batch.size() << " in " << took * 1000 << " ms";
        deliver(batch, results);
        hand_over_published();
    }
    track_publishes();
    hand_over_published();
}

bool ingest::parse(const incoming& in, send_request& out) {
    const parsed_topic t = topics_.parse(in.topic);
    if (t.kind == topic_kind::presence) {
        Json::Value v;
        std::string why;
        if (json::parse(in.payload, v, why) && v["state"].isString() && v["devices"].isInt()) {
            presence_record p;
            p.state = v["state"].asString();
            p.devices = v["devices"].asInt();
            p.last_seen = v["last_seen"].isInt64() ? v["last_seen"].asInt64() : 0;
            deferred_.add_presence(std::string(t.user), p);
            bridge_metrics().presence_updates.inc();
        }
        return false;
    }
    if (t.kind == topic_kind::conv_receipt) {
        receipt r;
        envelope_error why;
        if (!parse_stamped_receipt(in.payload, r, why)) {
            log::warning() << "dropped a receipt on " << in.topic << ": " << why.message;
            return false;
        }
        deferred_.add_receipt(t.conv, r.user, r);
        bridge_metrics().receipts.inc();
        return false;
    }
    if (t.kind == topic_kind::rpc_stamped) {
        // Requests come on the request link; one here was queued for this
        // link's session by an older bridge. Answered on the request threads
        // all the same, never on this loop.
        requests_.take(in);
        return false;
    }
    envelope_error error;
    if (t.kind != topic_kind::conv_stamped || !parse_stamped(in.payload, out.env, error)) {
        // Only the plugin writes .../stamped, so this is a bug, a foreign
        // broker setup, or a plugin newer than this bridge. A sender named in
        // it is told, with the message's id, so that it stops resending.
        log::warning() << "dropped an unexpected message on " << in.topic << ": " << error.message;
        if (t.kind == topic_kind::conv_stamped) {
            bridge_metrics().messages_refused.with({std::string(error.code.empty() ? error_code::invalid_envelope : error.code)}).inc();
            refuse_unreadable(t.conv, in.payload, out.env.id, error);
        }
        return false;
    }
    out.conv = t.conv;
    out.arrived = in.arrived;
    return true;
}

void ingest::refuse_unreadable(std::int64_t conv, std::string_view payload, const std::string& id,
                               const envelope_error& error) {
    Json::Value v;
    std::string why;
    if (!json::parse(payload, v, why) || !v.isObject() || !v["sender"].isString() ||
        !valid_user_name(v["sender"].asString()))
        return; // nobody to tell
    link_.publish(topics_.inbox(v["sender"].asString()),
                  error_json(error.code.empty() ? error_code::invalid_envelope : error.code,
                             "the server could not read this message: " + error.message, id, conv));
}

void ingest::collect(std::vector<send_request>& batch) {
    batch.clear();
    incoming in;
    // Wait briefly for the first message, then take whatever else is already
    // queued: under load batches grow by themselves, idle latency stays low.
    if (!link_.next(in, std::chrono::milliseconds(50))) {
        pacer_.took(0, std::chrono::steady_clock::now());
        return;
    }
    do {
        send_request r;
        if (parse(in, r)) batch.push_back(std::move(r));
    } while (batch.size() < batch_max_ && link_.next(in, std::chrono::milliseconds(0)));
    // While the store cannot keep up, a small batch waits for company: one
    // wake-up at the deadline, then whatever has come.
    if (!batch.empty()) {
        const auto until = pacer_.wait_until(batch.size(), batch.front().arrived);
        if (until != batch_pacer::clock::time_point{}) {
            bridge_metrics().store_lingered.inc();
            std::this_thread::sleep_until(until);
            while (batch.size() < batch_max_ && link_.next(in, std::chrono::milliseconds(0))) {
                send_request r;
                if (parse(in, r)) batch.push_back(std::move(r));
            }
        }
    }
    pacer_.took(batch.size(), std::chrono::steady_clock::now());
    // One run per conversation (mqchat_store_batch locks them in id order
    // itself); stable keeps each conversation's arrival order.
    std::stable_sort(batch.begin(), batch.end(),
                     [](const send_request& a, const send_request& b) { return a.conv < b.conv; });
}

std::vector<store_result> ingest::store_with_retry(const std::vector<send_request>& batch,
                                                   const std::atomic<bool>& stop) {
    int backoff_ms = 100;
    int conflicts = 0;
    bool reported = false;
    while (!stop) {
        try {
            // A long call (a big batch, a busy database): every millisecond,
            // what came from the broker is read meanwhile, so the next batch
            // is ready when this one is stored. A short one is not
            // interrupted: what came is read in one go after it.
            auto results = store_.store_batch(batch, [this](int socket) {
                pollfd fd{socket, POLLIN, 0};
                if (poll(&fd, 1, 1) == 0) link_.read_waiting();
            });
            if (reported) log::info() << "database is back";
            return results;
        } catch (const pg::broken_connection& e) {
            if (!reported) log::warning() << "database unavailable (" << e.what() << "); retrying";
            reported = true;
            resync_ = true; // the commit may have happened: republish what is unpublished
        } catch (const pg::sql_error& e) {
            // Nothing of the batch was stored (one transaction). Only what the
            // database refuses for good reaches the sender, as internal_error.
            switch (classify(e.sqlstate)) {
            case sql_failure::wait:
                if (!reported)
                    log::warning() << "database cannot store now (SQLSTATE " << e.sqlstate << ": "
                              << e.what() << "); retrying";
                reported = true;
                break;
            case sql_failure::conflict:
                if (++conflicts < max_conflicts) break;
                return store_one_by_one(batch, e, stop);
            case sql_failure::refused:
                return store_one_by_one(batch, e, stop);
            }
        }
        bridge_metrics().store_retries.inc();
        heartbeat_.turned();
        link_.idle(std::chrono::milliseconds(backoff_ms));
        backoff_ms = std::min(backoff_ms * 2, 2000);
        if (resync_) track_publishes();
    }
    return {};
}

std::vector<store_result> ingest::store_one_by_one(const std::vector<send_request>& batch,
                                                   const pg::sql_error& error, const std::atomic<bool>& stop) {
    // One message the database refuses must not hold up the others: store
    // them one at a time and refuse only the one that fails.
    if (batch.size() == 1) {
        log::warning() << "database refused message " << batch[0].env.id << " from "
                  << batch[0].env.sender << ": " << error.what();
        return {store_result{store_status::failed, 0, 0}};
    }
    std::vector<store_result> out;
    for (const auto& r : batch) {
        auto one = store_with_retry({r}, stop);
        if (one.empty()) return {};
        out.push_back(one[0]);
    }
    return out;
}

void ingest::publish_stored(const stored_message& m) {
    in_flight_.push_back({m.conv, m.seq, link_.publish(topics_.conv_msg(m.conv), stored_json(m), {m.members_version})});
}

void ingest::deliver(const std::vector<send_request>& batch, const std::vector<store_result>& results) {
    std::vector<std::pair<std::int64_t, std::int64_t>> stored;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const send_request& r = batch[i];
        const store_result& res = results[i];
        const std::string inbox = topics_.inbox(r.env.sender);
        switch (res.status) {
        case store_status::stored: {
            stored_message m;
            m.conv = r.conv;
            m.seq = res.seq;
            m.ts = res.ts;
            m.id = r.env.id;
            m.sender = r.env.sender;
            m.body = r.env.body;
            m.type = r.env.type;
            m.reply_to = r.env.reply_to;
            m.ref = r.env.ref;
            m.mentions = res.mentions;
            m.media = res.media;
            m.e2e = r.env.e2e;
            m.members_version = res.members_version;
            publish_stored(m);
            stored.emplace_back(m.conv, m.seq);
            bridge_metrics().messages_stored.inc();
            // "ack": false: the sender's own copy of the message is its ack.
            if (r.env.ack) link_.publish(inbox, ack_json(r.env.id, r.conv, res.seq, res.ts));
            break;
        }
        case store_status::duplicate: // already stored and delivered: only ack again (even with "ack": false: no copy comes)
            link_.publish(inbox, ack_json(r.env.id, r.conv, res.seq, res.ts));
            bridge_metrics().messages_duplicate.inc();
            break;
        case store_status::bad_ref:
            bridge_metrics().messages_refused.with({std::string(error_code::not_found)}).inc();
            link_.publish(inbox, error_json(error_code::not_found,
                                            "no message " + std::to_string(r.env.ref) + " to " + r.env.type +
                                                " in conversation " + std::to_string(r.conv),
                                            r.env.id, r.conv));
            break;
        case store_status::not_author:
            bridge_metrics().messages_refused.with({std::string(error_code::forbidden)}).inc();
            link_.publish(inbox, error_json(error_code::forbidden, "only the sender may " + r.env.type + " a message",
                                            r.env.id, r.conv));
            break;
        case store_status::bad_media:
            bridge_metrics().messages_refused.with({std::string(error_code::not_found)}).inc();
            link_.publish(inbox, error_json(error_code::not_found,
                                            "no upload " + r.env.media + " of yours, ready and not yet sent, in conversation " +
                                                std::to_string(r.conv),
                                            r.env.id, r.conv));
            break;
        case store_status::wrong_encryption:
            bridge_metrics().messages_refused.with({std::string(error_code::forbidden)}).inc();
            link_.publish(inbox, error_json(error_code::forbidden,
                                            r.env.type == message_type::e2e
                                                ? "conversation " + std::to_string(r.conv) +
                                                      " is not end-to-end encrypted: send plain messages there"
                                                : "conversation " + std::to_string(r.conv) +
                                                      " is end-to-end encrypted: send type e2e with ciphertexts",
                                            r.env.id, r.conv));
            break;
        case store_status::failed:
            bridge_metrics().messages_refused.with({std::string(error_code::internal)}).inc();
            link_.publish(inbox, error_json(error_code::internal, "the server could not store this message",
                                            r.env.id, r.conv));
            break;
        case store_status::not_member:
        case store_status::no_conversation:
            bridge_metrics().messages_refused.with({std::string(error_code::not_member)}).inc();
            log::info() << "refused message " << r.env.id << " from " << r.env.sender << " in "
                      << r.conv << ": " << status_name(res.status);
            link_.publish(inbox, error_json(error_code::not_member,
                                            "you are not a member of conversation " + std::to_string(r.conv),
                                            r.env.id, r.conv));
            break;
        }
    }
    deferred_.add_pushes(stored);
}

void ingest::track_publishes() {
    while (!in_flight_.empty() && in_flight_.front().handle->done()) {
        const in_flight& f = in_flight_.front();
        if (f.handle->ok()) {
            bridge_metrics().messages_delivered.inc();
            auto& seq = published_[f.conv];
            seq = std::max(seq, f.seq);
        } else {
            resync_ = true;
        }
        in_flight_.pop_front();
    }
}

void ingest::hand_over_published() {
    if (published_.empty()) return;
    deferred_.add_published(published_);
    published_.clear();
}

void ingest::republish_outbox(const std::atomic<bool>& stop) {
    // Whatever was in flight is superseded by the republish below.
    in_flight_.clear();
    std::int64_t conv = 0, seq = 0;
    std::size_t total = 0;
    try {
        while (!stop) {
            const auto page = store_.unpublished(conv, seq, outbox_page);
            std::vector<std::pair<std::int64_t, std::int64_t>> stored;
            bridge_metrics().messages_republished.inc(page.size());
            for (const auto& m : page) {
                publish_stored(m);
                stored.emplace_back(m.conv, m.seq);
            }
            deferred_.add_pushes(stored); // queued once: a second time adds nothing
            total += page.size();
            if (page.size() < outbox_page) break;
            conv = page.back().conv;
            seq = page.back().seq;
            track_publishes();
        }
        resync_ = false;
        if (total) log::info() << "republished " << total << " stored messages";
    } catch (const pg::error& e) {
        log::warning() << "cannot read the outbox yet (" << e.what() << ")";
        link_.idle(std::chrono::milliseconds(500));
    }
}

} // namespace mqchat::bridge
