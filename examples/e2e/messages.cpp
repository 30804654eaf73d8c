#include "messages.hpp"

#include "directory.hpp"
#include "safety.hpp"

#include <algorithm>
#include <set>
#include <sstream>

namespace e2e {

namespace {

constexpr std::size_t max_recipients = 100;
constexpr std::size_t max_body = 8192;
/// The plugin's default max_payload (16 KiB), less room for the envelope's id.
constexpr std::size_t max_payload = 16384 - 64;
/// A group session is replaced after this many messages (as Matrix clients do), so that
/// a key that leaks opens a bounded part of a conversation.
constexpr int group_session_messages = 100;
/// The longest plaintext a Megolm message carries: its ciphertext must stay within max_body.
constexpr std::size_t max_group_plaintext = 5500;
/// What a key-share message leaves in the read cache (not the key itself: the session is kept).
const char* const key_share_marker = "{\"room_key_shared\":true}";

std::string compact(const Json::Value& v) {
    Json::StreamWriterBuilder w;
    w["indentation"] = "";
    w["emitUTF8"] = true;
    return Json::writeString(w, v);
}

bool parse(const std::string& text, Json::Value& v) {
    Json::CharReaderBuilder b;
    std::string errs;
    std::istringstream in(text);
    return Json::parseFromStream(b, in, &v, &errs);
}

std::string key_of(const Json::Value& m) {
    return std::to_string(m["conv"].asInt64()) + ":" + std::to_string(m["seq"].asInt64());
}

/// The text to show of a decrypted plaintext; "" for a group session's key (nothing to show).
std::string text_of(const std::string& plaintext) {
    Json::Value v;
    if (!parse(plaintext, v) || !v.isObject()) return "(not a message this client reads)";
    if (v.isMember("room_key") || v.isMember("room_key_shared")) return "";
    if (v["file"].isObject()) {
        const Json::Value& f = v["file"];
        const std::string caption = v["body"].isString() ? v["body"].asString() : "";
        return "[file " + f["name"].asString() + ", " + std::to_string(f["size"].asUInt64()) + " bytes, media " +
               f["media"].asString() + "]" + (caption.empty() ? "" : " " + caption);
    }
    if (!v["body"].isString()) return "(not a message this client reads)";
    return v["body"].asString();
}

std::string inbound_key(const std::string& conv, const std::string& sender, const std::string& device,
                        const std::string& session_id) {
    return conv + "|" + sender + "/" + device + "|" + session_id;
}

/// A group session's key that arrived over Olm from sender/device (so it is theirs: only that
/// device's pinned identity key opens such a session): kept for conversation `conv`, where it
/// arrived, and only there.
void accept_room_key(device_state& s, const std::string& conv, const std::string& sender,
                     const std::string& device, const Json::Value& room_key) {
    if (room_key["conv"].asString() != conv)
        throw crypto_error("a group key for conversation " + room_key["conv"].asString() +
                           " sent in " + conv + ": refused");
    inbound_group g = inbound_group::from_key(room_key["session_key"].asString());
    if (g.id() != room_key["session_id"].asString())
        throw crypto_error("a group key whose session id is not its own: refused");
    const std::string k = inbound_key(conv, sender, device, g.id());
    const auto known = s.inbound.find(k);
    // The same session shared again (a resend): keep the key that opens more of it.
    if (known == s.inbound.end()) s.inbound.emplace(k, std::move(g));
    else if (g.first_known_index() < known->second.first_known_index()) known->second = std::move(g);
}

/// Moves `list[i]` to the front: the session that last worked is the one to answer with.
void to_front(std::vector<session>& list, std::size_t i) {
    std::rotate(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(i),
                list.begin() + static_cast<std::ptrdiff_t>(i) + 1);
}

std::string decrypt_from(server& l, device_state& s, const std::string& user,
                         const std::string& device, int type, const std::string& body) {
    const std::string peer = user + "/" + device;
    if (!s.known.count(peer))
        verified_devices(l, s, user); // pins it (once; a removed device stays pinned)
    const auto known = s.known.find(peer);
    if (known == s.known.end()) throw crypto_error("from a device this client does not know");
    const std::string& identity_key = known->second.identity_key;
    auto& list = s.sessions[peer];
    if (type == 0) {
        for (std::size_t i = 0; i < list.size(); ++i)
            if (list[i].matches_inbound(identity_key, body)) {
                std::string plain = list[i].decrypt(type, body);
                to_front(list, i);
                return plain;
            }
        session fresh = session::inbound(s.olm, identity_key, body);
        std::string plain = fresh.decrypt(type, body);
        // Its one-time key is used up (a fallback key's session has none to remove: an error,
        // ignored).
        (void)olm_remove_one_time_keys(s.olm.get(), fresh.get());
        list.insert(list.begin(), std::move(fresh));
        return plain;
    }
    std::string why = "no session with " + peer;
    for (std::size_t i = 0; i < list.size(); ++i) {
        try {
            std::string plain = list[i].decrypt(type, body);
            to_front(list, i);
            return plain;
        } catch (const crypto_error& e) {
            why = e.what();
        }
    }
    throw crypto_error(why);
}

} // namespace

conversation conversation_of(server& l, const std::string& conv) {
    conversation c{conv, "", {}};
    Json::Value p;
    p["conv"] = Json::Int64(std::stoll(conv));
    p["limit"] = 500;
    for (;;) {
        const Json::Value r = l.call("conv.members", p);
        if (!r["encrypted"].asBool())
            throw crypto_error("conversation " + conv + " is not an encrypted one");
        c.kind = r["kind"].asString();
        for (const auto& m : r["members"])
            c.members.push_back(m["user"].asString());
        if (!r["more"].asBool() || r["members"].empty()) break;
        p["after"] = r["members"][r["members"].size() - 1]["user"];
    }
    return c;
}

namespace {

long long send_per_device(server& l, device_state& s, const std::string& conv,
                          const std::vector<peer_device>& targets, const std::string& plaintext,
                          const std::string& media) {
    if (targets.size() > max_recipients)
        throw crypto_error(std::to_string(targets.size()) +
                           " devices: more than the 100 a message can address");
    Json::Value e2e;
    e2e["sender_device"] = s.device;
    e2e["ciphertexts"] = Json::Value(Json::objectValue);
    start_sessions(l, s, targets);
    for (const auto& d : targets) {
        const auto [type, body] = s.sessions[d.address()].front().encrypt(plaintext);
        if (body.size() > max_body)
            throw crypto_error("the message is too long to encrypt for " + d.address());
        e2e["ciphertexts"][d.address()]["type"] = type;
        e2e["ciphertexts"][d.address()]["body"] = body;
    }
    Json::Value env;
    env["type"] = "e2e";
    env["e2e"] = e2e;
    if (!media.empty()) env["media"] = media;
    // Too big: nothing is saved or sent, so the sessions on disk never encrypted it.
    if (compact(env).size() > max_payload)
        throw crypto_error(
            "encrypted for " + std::to_string(targets.size()) +
            " devices the message is larger than a send may be (16 KiB): shorten it");
    s.save(); // the sessions moved on: never encrypt twice from the same state
    const long long seq = l.send(conv, env);
    Json::Value stored;
    stored["conv"] = Json::Int64(std::stoll(conv));
    stored["seq"] = Json::Int64(seq);
    s.read[key_of(stored)] = plaintext; // the sending device cannot decrypt its own message
    s.save();
    return seq;
}

/// Sends the group session's key to `devices` over Olm, in as many envelopes as
/// the payload limit and the 100 recipients need; each device counts as having it
/// once its envelope is acked.
void share_group_key(server& l, device_state& s, const std::string& conv, group_outbound& g,
                     const std::vector<peer_device>& devices) {
    Json::Value room_key;
    room_key["room_key"]["conv"] = conv;
    room_key["room_key"]["session_id"] = g.session.id();
    room_key["room_key"]["session_key"] = g.session.session_key(); // opens this index and later
    const std::string plaintext = compact(room_key);
    Json::Value ciphertexts(Json::objectValue);
    std::vector<std::string> in_envelope;
    const std::size_t envelope_overhead = 200;
    std::size_t size = envelope_overhead;
    auto flush = [&] {
        if (in_envelope.empty()) return;
        Json::Value env;
        env["type"] = "e2e";
        env["e2e"]["sender_device"] = s.device;
        env["e2e"]["ciphertexts"] = ciphertexts;
        s.save(); // the Olm sessions moved on
        const long long seq = l.send(conv, env);
        Json::Value stored;
        stored["conv"] = Json::Int64(std::stoll(conv));
        stored["seq"] = Json::Int64(seq);
        s.read[key_of(stored)] = key_share_marker;
        g.shared_with.insert(in_envelope.begin(), in_envelope.end());
        s.save();
        ciphertexts = Json::Value(Json::objectValue);
        in_envelope.clear();
        size = envelope_overhead;
    };
    start_sessions(l, s, devices);
    for (const auto& d : devices) {
        const auto [type, body] = s.sessions[d.address()].front().encrypt(plaintext);
        const std::size_t entry = d.address().size() + body.size() + 32;
        if (size + entry > max_payload || in_envelope.size() == max_recipients) flush();
        ciphertexts[d.address()]["type"] = type;
        ciphertexts[d.address()]["body"] = body;
        in_envelope.push_back(d.address());
        size += entry;
    }
    flush();
}

long long send_group(server& l, device_state& s, const std::string& conv,
                     const std::vector<peer_device>& targets, const std::string& plaintext,
                     const std::string& media) {
    if (plaintext.size() > max_group_plaintext)
        throw crypto_error("the message is too long to encrypt (at most about " +
                           std::to_string(max_group_plaintext) + " bytes): shorten it");
    std::set<std::string> now;
    for (const auto& d : targets)
        now.insert(d.address());
    auto current = s.outbound.find(conv);
    if (current != s.outbound.end()) {
        const auto& g = current->second;
        const bool someone_gone = std::any_of(g.shared_with.begin(), g.shared_with.end(),
                                              [&](const std::string& d) { return !now.count(d); });
        // A device that left (removed, or its user left the group) must not read what follows.
        if (someone_gone || g.messages >= group_session_messages) {
            s.outbound.erase(current);
            current = s.outbound.end();
        }
    }
    if (current == s.outbound.end()) {
        current = s.outbound.emplace(conv, group_outbound{outbound_group::create(), {}, 0}).first;
        s.save();
    }
    group_outbound& g = current->second;
    std::vector<peer_device> lacking;
    for (const auto& d : targets)
        if (!g.shared_with.count(d.address())) lacking.push_back(d);
    share_group_key(l, s, conv, g, lacking);

    Json::Value env;
    env["type"] = "e2e";
    env["e2e"]["sender_device"] = s.device;
    env["e2e"]["session_id"] = g.session.id();
    env["e2e"]["ciphertext"] = g.session.encrypt(plaintext);
    if (!media.empty()) env["media"] = media;
    ++g.messages;
    s.save(); // the ratchet moved on: never encrypt twice at one index
    const long long seq = l.send(conv, env);
    Json::Value stored;
    stored["conv"] = Json::Int64(std::stoll(conv));
    stored["seq"] = Json::Int64(seq);
    s.read[key_of(stored)] = plaintext; // the sending device does not decrypt its own message
    s.save();
    return seq;
}

} // namespace

long long send_encrypted(server& l, device_state& s, const conversation& c, const std::string& text) {
    Json::Value plain;
    plain["body"] = text;
    return send_encrypted(l, s, c, plain, "");
}

long long send_encrypted(server& l, device_state& s, const conversation& c, const Json::Value& plain,
                         const std::string& media) {
    const std::string plaintext = compact(plain);
    std::vector<peer_device> targets;
    for (const auto& user : c.members)
        for (auto& d : verified_devices(l, s, user)) {
            // A user checked with a safety number: a device that came since is not encrypted for
            // (nor is anything sent) until they are checked again.
            const auto checked = s.verified.find(d.user);
            if (checked != s.verified.end() && !checked->second.count(verified_entry(d.device, d.signing_key)))
                throw crypto_error(d.address() + " is new since you verified " + d.user +
                                   ": compare your safety number again (safety-number " + d.user +
                                   ") and run e2e-verify");
            if (!(d.user == s.user && d.device == s.device)) targets.push_back(std::move(d));
        }
    return c.group() ? send_group(l, s, c.conv, targets, plaintext, media)
                     : send_per_device(l, s, c.conv, targets, plaintext, media);
}

std::string read_message(server& l, device_state& s, const Json::Value& m, bool group) {
    if (m["type"].asString() != "e2e") return m["body"].asString() + " (not encrypted)";
    const auto cached = s.read.find(key_of(m));
    if (cached != s.read.end()) return text_of(cached->second);
    const Json::Value& e2e = m["e2e"];
    const std::string conv = std::to_string(m["conv"].asInt64());
    const std::string sender = m["sender"].asString(), device = e2e["sender_device"].asString();
    if (sender == s.user && device == s.device) return "(sent from this device; no copy kept)";
    if (e2e.isMember("ciphertext")) {
        // A group message: the session's key must have come to this device over Olm from the
        // sender's device, for this conversation.
        const auto in = s.inbound.find(inbound_key(conv, sender, device, e2e["session_id"].asString()));
        if (in == s.inbound.end()) return "(not for this device)";
        try {
            const auto [plaintext, index] = in->second.decrypt(e2e["ciphertext"].asString());
            // A ciphertext stored again at another seq (by a server that replays it) shows once.
            const std::string seen = e2e["session_id"].asString() + "|" + std::to_string(index);
            const auto first = s.group_seen.find(seen);
            if (first != s.group_seen.end() && first->second != key_of(m))
                return "(a repeat of #" + first->second.substr(first->second.find(':') + 1) + ": ignored)";
            s.group_seen[seen] = key_of(m);
            s.read[key_of(m)] = plaintext;
            s.save();
            return text_of(plaintext);
        } catch (const crypto_error& e) {
            // Sent before this device was given the key (it opens only later indexes).
            if (std::string(e.what()).find("UNKNOWN_MESSAGE_INDEX") != std::string::npos)
                return "(not for this device)";
            return std::string("(cannot decrypt: ") + e.what() + ")";
        }
    }
    const Json::Value& mine = e2e["ciphertexts"][s.user + "/" + s.device];
    // In a group, an Olm envelope is a group key; one without a copy here was for other devices.
    if (!mine.isObject()) return group ? "" : "(not for this device)";
    try {
        const std::string plaintext =
            decrypt_from(l, s, sender, device, mine["type"].asInt(), mine["body"].asString());
        Json::Value v;
        if (parse(plaintext, v) && v.isObject() && v.isMember("room_key")) {
            accept_room_key(s, conv, sender, device, v["room_key"]);
            s.read[key_of(m)] = key_share_marker;
            s.save();
            return "";
        }
        s.read[key_of(m)] = plaintext;
        s.save();
        return text_of(plaintext);
    } catch (const crypto_error& e) {
        return std::string("(cannot decrypt: ") + e.what() + ")";
    }
}

void find_group_keys(server& l, device_state& s, const std::string& conv, const Json::Value& page, int max_pages) {
    const auto missing = [&] {
        std::set<std::string> out;
        for (const auto& m : page) {
            const Json::Value& e2e = m["e2e"];
            if (m["type"].asString() != "e2e" || !e2e.isMember("ciphertext") || s.read.count(key_of(m))) continue;
            const std::string k = inbound_key(conv, m["sender"].asString(), e2e["sender_device"].asString(),
                                              e2e["session_id"].asString());
            if (!s.inbound.count(k)) out.insert(k);
        }
        return out;
    };
    const auto take_keys = [&](const Json::Value& m) {
        if (m["e2e"].isMember("ciphertexts") && m["e2e"]["ciphertexts"].isMember(s.user + "/" + s.device))
            read_message(l, s, m, true); // takes the key it carries (and keeps the text)
    };
    for (const auto& m : page) take_keys(m); // the page's own first
    if (page.empty() || missing().empty()) return;
    long long before = page[0]["seq"].asInt64();
    for (const auto& m : page) before = std::min(before, static_cast<long long>(m["seq"].asInt64()));
    for (int n = 0; n < max_pages && before > 1 && !missing().empty(); ++n) {
        Json::Value p;
        p["conv"] = Json::Int64(std::stoll(conv));
        p["before"] = Json::Int64(before);
        p["limit"] = 100;
        const Json::Value r = l.call("history", p);
        const Json::Value& earlier = r["messages"];
        if (earlier.empty()) break;
        // Newest first: the key a message needs was sent shortly before it.
        for (Json::ArrayIndex i = earlier.size(); i-- > 0;) {
            const Json::Value& m = earlier[i];
            before = std::min(before, static_cast<long long>(m["seq"].asInt64()));
            take_keys(m);
        }
    }
}

Json::Value plaintext_of(server& l, device_state& s, const Json::Value& m, bool group) {
    const std::string shown = read_message(l, s, m, group);
    const auto kept = s.read.find(key_of(m));
    Json::Value v;
    if (kept == s.read.end() || !parse(kept->second, v)) throw crypto_error("this device cannot read it: " + shown);
    return v;
}

} // namespace e2e
