#include "directory.hpp"

#include "base64.hpp"

#include <map>
#include <sstream>

namespace e2e {

namespace {

Json::Value parse(const std::string& text) {
    Json::Value v;
    Json::CharReaderBuilder b;
    std::string errs;
    std::istringstream in(text);
    Json::parseFromStream(b, in, &v, &errs);
    return v;
}

Json::Value signed_key(device_state& s, const std::string& kind, const std::string& id,
                       const std::string& key) {
    Json::Value k;
    k["id"] = id;
    k["key"] = key;
    k["signature"] = s.olm.sign(signed_text(s.user, s.device, kind, id, key));
    return k;
}

} // namespace

std::string signed_text(const std::string& user, const std::string& device, const std::string& kind,
                        const std::string& key_id, const std::string& key) {
    return "mqchat-key\n" + user + "\n" + device + "\n" + kind + "\n" + key_id + "\n" + key;
}

bool verifies(const std::string& signing_key, const std::string& message,
              const std::string& signature) {
    std::vector<unsigned char> pk, sig;
    if (!from_base64(signing_key, pk) || pk.size() != crypto_sign_PUBLICKEYBYTES ||
        !from_base64(signature, sig) || sig.size() != crypto_sign_BYTES)
        return false;
    return crypto_sign_verify_detached(sig.data(),
                                       reinterpret_cast<const unsigned char*>(message.data()),
                                       message.size(), pk.data()) == 0;
}

int upload_keys(server& l, device_state& s, int target, bool new_fallback) {
    const Json::Value ids = parse(s.olm.identity_keys_json());
    Json::Value p;
    p["device"] = s.device;
    p["signing_key"] = ids["ed25519"];
    p["identity_key"] = ids["curve25519"];
    p["signature"] =
        s.olm.sign(signed_text(s.user, s.device, "device", "", ids["curve25519"].asString()));
    // Keys generated but not yet published (a lost reply last time) go first.
    Json::Value otk = parse(s.olm.one_time_keys_json())["curve25519"];
    const int wanted = std::min(50, target) - static_cast<int>(otk.size());
    if (wanted > 0) {
        s.olm.generate_one_time_keys(static_cast<std::size_t>(wanted));
        otk = parse(s.olm.one_time_keys_json())["curve25519"];
    }
    p["one_time_keys"] = Json::Value(Json::arrayValue);
    for (const auto& id : otk.getMemberNames()) {
        if (p["one_time_keys"].size() >= 50) break;
        p["one_time_keys"].append(signed_key(s, "one_time", id, otk[id].asString()));
    }
    Json::Value fb = parse(s.olm.unpublished_fallback_key_json())["curve25519"];
    if (fb.empty() && new_fallback) {
        s.olm.generate_fallback_key();
        fb = parse(s.olm.unpublished_fallback_key_json())["curve25519"];
    }
    for (const auto& id : fb.getMemberNames())
        p["fallback_key"] = signed_key(s, "fallback", id, fb[id].asString());
    s.save(); // the private halves are kept before the public ones leave
    l.call("keys.upload", p);
    s.olm.mark_keys_as_published();
    s.save();
    return static_cast<int>(p["one_time_keys"].size());
}

void top_up(server& l, device_state& s) {
    Json::Value c;
    c["device"] = s.device;
    const Json::Value count = l.call("keys.count", c);
    const int left = count["one_time_keys"].asInt();
    if (left < 25 || !count["fallback"].asBool())
        upload_keys(l, s, 50 - left, !count["fallback"].asBool());
}

std::vector<peer_device> verified_devices(server& l, device_state& s, const std::string& user) {
    Json::Value p;
    p["user"] = user;
    const Json::Value r = l.call("devices.list", p);
    std::vector<peer_device> out;
    for (const auto& d : r["devices"]) {
        peer_device pd{user, d["device"].asString(), d["signing_key"].asString(),
                       d["identity_key"].asString()};
        if (!verifies(pd.signing_key, signed_text(user, pd.device, "device", "", pd.identity_key),
                      d["signature"].asString()))
            throw crypto_error("the directory's keys of " + pd.address() +
                               " are not signed by it: not used");
        const auto known = s.known.find(pd.address());
        if (known != s.known.end() && (known->second.signing_key != pd.signing_key ||
                                       known->second.identity_key != pd.identity_key))
            throw crypto_error("the keys of " + pd.address() +
                               " changed since this device first saw them: refused");
        s.known[pd.address()] = {pd.signing_key, pd.identity_key};
        out.push_back(pd);
    }
    return out;
}

namespace {

/// The session to `d` from its entry in a keys.claim answer, every key checked; false when the
/// answer has no entry for it.
bool session_from_claim(device_state& s, const peer_device& d, const Json::Value& claimed) {
    for (const auto& c : claimed["devices"]) {
        if (c["device"].asString() != d.device) continue;
        if (c["signing_key"].asString() != d.signing_key ||
            c["identity_key"].asString() != d.identity_key)
            throw crypto_error("keys.claim gave other keys for " + d.address() +
                               " than devices.list: refused");
        const Json::Value& k = c["one_time_key"];
        if (!k.isObject())
            throw crypto_error(d.address() + " has no key left to start a session with");
        const std::string kind = k["fallback"].asBool() ? "fallback" : "one_time";
        if (!verifies(d.signing_key,
                      signed_text(d.user, d.device, kind, k["id"].asString(), k["key"].asString()),
                      k["signature"].asString()))
            throw crypto_error("the claimed key of " + d.address() +
                               " is not signed by it: refused");
        auto& list = s.sessions[d.address()];
        list.insert(list.begin(), session::outbound(s.olm, d.identity_key, k["key"].asString()));
        return true;
    }
    return false;
}

} // namespace

void start_session(server& l, device_state& s, const peer_device& d) {
    Json::Value p;
    p["user"] = d.user;
    p["device"] = d.device;
    if (!session_from_claim(s, d, l.call("keys.claim", p)))
        throw crypto_error("keys.claim did not name " + d.address());
}

void start_sessions(server& l, device_state& s, const std::vector<peer_device>& targets) {
    std::map<std::string, std::vector<const peer_device*>> of_user, lacking;
    for (const auto& d : targets) {
        of_user[d.user].push_back(&d);
        if (s.sessions[d.address()].empty()) lacking[d.user].push_back(&d);
    }
    for (const auto& [user, devices] : lacking) {
        // All of a user's devices at once (one claim, one key each) when none has a session yet:
        // a first message to a group claims once per member, not once per device.
        // (Not for one's own user: that claim would take a key of the sending device too.)
        if (user != s.user && devices.size() > 1 && devices.size() == of_user[user].size()) {
            Json::Value p;
            p["user"] = user;
            const Json::Value claimed = l.call("keys.claim", p);
            for (const auto* d : devices)
                if (!session_from_claim(s, *d, claimed)) start_session(l, s, *d); // listed since
        } else {
            for (const auto* d : devices) start_session(l, s, *d);
        }
    }
}

} // namespace e2e
