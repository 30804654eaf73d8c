#include "messages.hpp"

#include "directory.hpp"

#include <algorithm>
#include <sstream>

namespace e2e {

namespace {

constexpr std::size_t max_recipients = 100;
constexpr std::size_t max_body = 8192;
/// The plugin's default max_payload (16 KiB), less room for the envelope's id.
constexpr std::size_t max_payload = 16384 - 64;

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

std::string text_of(const std::string& plaintext) {
    Json::Value v;
    if (!parse(plaintext, v) || !v["body"].isString()) return "(not a message this client reads)";
    return v["body"].asString();
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

std::vector<std::string> members_of(server& l, const device_state& s, const std::string& conv,
                                    const std::vector<std::string>& extra) {
    std::vector<std::string> out{s.user};
    Json::Value p;
    p["limit"] = 200;
    const Json::Value r = l.call("conv.list", p);
    bool found = false;
    for (const auto& c : r["conversations"]) {
        if (std::to_string(c["conv"].asInt64()) != conv) continue;
        found = true;
        if (!c["encrypted"].asBool())
            throw crypto_error("conversation " + conv + " is not an encrypted one");
        for (const auto& m : c["members"])
            out.push_back(m.asString());
        if (c["with"].isString())
            out.push_back(c["with"].asString());
        else if (!c.isMember("members") && extra.empty())
            throw crypto_error("conversation " + conv +
                               " is a group: name its members with --member");
    }
    if (!found) throw crypto_error("conversation " + conv + " is not among your latest 200");
    out.insert(out.end(), extra.begin(), extra.end());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

long long send_encrypted(server& l, device_state& s, const std::string& conv,
                         const std::vector<std::string>& members, const std::string& text) {
    Json::Value plain;
    plain["body"] = text;
    const std::string plaintext = compact(plain);
    std::vector<peer_device> targets;
    for (const auto& user : members)
        for (auto& d : verified_devices(l, s, user))
            if (!(d.user == s.user && d.device == s.device)) targets.push_back(std::move(d));
    if (targets.size() > max_recipients)
        throw crypto_error(std::to_string(targets.size()) +
                           " devices: more than the 100 a message can address");
    Json::Value e2e;
    e2e["sender_device"] = s.device;
    e2e["ciphertexts"] = Json::Value(Json::objectValue);
    for (const auto& d : targets) {
        if (s.sessions[d.address()].empty()) start_session(l, s, d);
        const auto [type, body] = s.sessions[d.address()].front().encrypt(plaintext);
        if (body.size() > max_body)
            throw crypto_error("the message is too long to encrypt for " + d.address());
        e2e["ciphertexts"][d.address()]["type"] = type;
        e2e["ciphertexts"][d.address()]["body"] = body;
    }
    Json::Value env;
    env["type"] = "e2e";
    env["e2e"] = e2e;
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

std::string read_message(server& l, device_state& s, const Json::Value& m) {
    if (m["type"].asString() != "e2e") return m["body"].asString() + " (not encrypted)";
    const auto cached = s.read.find(key_of(m));
    if (cached != s.read.end()) return text_of(cached->second);
    const Json::Value& e2e = m["e2e"];
    if (e2e.isMember("ciphertext"))
        return "(a group session: this client uses per-device messages only)";
    if (m["sender"].asString() == s.user && e2e["sender_device"].asString() == s.device)
        return "(sent from this device; no copy kept)";
    const Json::Value& mine = e2e["ciphertexts"][s.user + "/" + s.device];
    if (!mine.isObject()) return "(not for this device)";
    try {
        const std::string plaintext =
            decrypt_from(l, s, m["sender"].asString(), e2e["sender_device"].asString(),
                         mine["type"].asInt(), mine["body"].asString());
        s.read[key_of(m)] = plaintext;
        s.save();
        return text_of(plaintext);
    } catch (const crypto_error& e) {
        return std::string("(cannot decrypt: ") + e.what() + ")";
    }
}

} // namespace e2e
