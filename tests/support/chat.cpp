#include "chat.hpp"

#include <json/json.h>

#include <set>
#include <sstream>
#include <stdexcept>

namespace mqchat::test {

namespace {
Json::Value parse_json(const std::string& text) {
    Json::CharReaderBuilder b;
    std::unique_ptr<Json::CharReader> r(b.newCharReader());
    Json::Value v;
    std::string errs;
    if (!r->parse(text.data(), text.data() + text.size(), &v, &errs))
        throw std::runtime_error("bad JSON from server: " + text);
    return v;
}
} // namespace

Json::Value json_of(const std::string& text) { return parse_json(text); }

chat_sender::chat_sender(mqtt_client& client, std::string user, std::int64_t conv)
    : client_(client), inbox_("chat/user/" + user + "/inbox"), send_topic_("chat/conv/" + std::to_string(conv) + "/send") {}

void chat_sender::read_inbox(std::chrono::milliseconds wait) {
    received r;
    if (!client_.wait_message(r, wait, inbox_)) return;
    auto handle = [this](const received& m) {
        const Json::Value v = parse_json(m.payload);
        if (v.isMember("error")) {
            errors.push_back(m.payload);
            return;
        }
        if (!v.isMember("ack")) return;
        const std::string id = v["ack"].asString();
        const std::int64_t seq = v["seq"].asInt64();
        auto [it, fresh] = acked.emplace(id, seq);
        if (!fresh && it->second != seq) ++conflicting_acks;
    };
    handle(r);
    for (const auto& m : client_.take_all(inbox_)) handle(m);
}

bool chat_sender::send_all(const std::vector<outgoing>& messages, std::size_t window,
                           std::chrono::milliseconds resend_after, std::chrono::milliseconds deadline,
                           std::size_t duplicate_every, const std::function<void(std::size_t)>& on_ack) {
    using clock = std::chrono::steady_clock;
    const auto until = clock::now() + deadline;
    std::map<std::size_t, clock::time_point> unacked; // index → last sent
    std::size_t next = 0, reported = acked.size();
    auto payload = [&](std::size_t i) {
        Json::Value v(Json::objectValue);
        v["id"] = messages[i].id;
        v["body"] = messages[i].body;
        Json::StreamWriterBuilder w;
        w["indentation"] = "";
        return Json::writeString(w, v);
    };
    auto send = [&](std::size_t i) {
        client_.publish_async(send_topic_, payload(i), 1);
        ++publishes;
        unacked[i] = clock::now();
    };
    while (clock::now() < until) {
        while (next < messages.size() && unacked.size() < window) {
            send(next);
            if (duplicate_every && (next + 1) % duplicate_every == 0) send(next);
            ++next;
        }
        read_inbox(std::chrono::milliseconds(20));
        for (auto it = unacked.begin(); it != unacked.end();) {
            if (acked.count(messages[it->first].id)) {
                it = unacked.erase(it);
                continue;
            }
            if (clock::now() - it->second > resend_after) send(it->first);
            ++it;
        }
        if (on_ack && acked.size() != reported) {
            reported = acked.size();
            on_ack(reported);
        }
        if (next == messages.size() && unacked.empty()) return true;
    }
    return false;
}

delivered parse_delivered(const std::string& payload) {
    const Json::Value v = parse_json(payload);
    delivered d;
    d.conv = v["conv"].asInt64();
    d.seq = v["seq"].asInt64();
    d.ts = v["ts"].asInt64();
    d.id = v["id"].asString();
    d.sender = v["sender"].asString();
    d.body = v["body"].asString();
    return d;
}

void delivery_log::add(const received& r) {
    delivered d = parse_delivered(r.payload);
    raw.push_back(d);
    if (!seen.insert(d.seq).second) {
        ++duplicates;
        return;
    }
    first_seen.push_back(std::move(d));
}

void delivery_log::collect(mqtt_client& client, const std::string& topic, std::size_t count,
                           std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (first_seen.size() < count && std::chrono::steady_clock::now() < until) {
        received r;
        if (client.wait_message(r, std::chrono::milliseconds(100), topic)) add(r);
    }
}

std::string delivery_log::check_gapless(std::size_t n) const {
    std::ostringstream why;
    if (first_seen.size() != n) why << "expected " << n << " distinct seqs, got " << first_seen.size() << ". ";
    for (std::size_t i = 0; i < first_seen.size(); ++i) {
        if (first_seen[i].seq != static_cast<std::int64_t>(i + 1)) {
            why << "position " << i << " has seq " << first_seen[i].seq << " (expected " << i + 1 << ")";
            break;
        }
    }
    return why.str();
}

} // namespace mqchat::test
