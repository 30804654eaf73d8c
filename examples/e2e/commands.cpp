#include "commands.hpp"

#include "directory.hpp"
#include "files.hpp"
#include "messages.hpp"
#include "safety.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <unistd.h>
#include <sstream>

namespace e2e {

namespace {

std::string passphrase() {
    const char* p = std::getenv("MQCHAT_E2E_PASSPHRASE");
    if (!p || !*p) throw crypto_error("set MQCHAT_E2E_PASSPHRASE: the state file is kept under it");
    return p;
}

device_state open_state(const options& o, const std::string& self) {
    device_state s = device_state::load(o.state, passphrase());
    if (s.user != self || s.device != o.device)
        throw crypto_error(o.state + " holds " + s.user + "/" + s.device + ", not " + self + "/" +
                           o.device);
    return s;
}

/// Live messages of one conversation, decrypted; keys.low answered with an
/// upload, devices.changed told. Runs until the process is stopped.
void listen(server& l, const options& o, const std::string& self, std::ostream& out) {
    device_state s = open_state(o, self);
    top_up(l, s);
    const std::string msg_topic = "chat/conv/" + o.conv + "/msg";
    const bool group = conversation_of(l, o.conv).group();
    l.subscribe(msg_topic);
    out << "listening to conversation " << o.conv << " as " << self << "/" << o.device << std::endl;
    long long last_seq = 0;
    for (;;) {
        std::string topic, payload;
        if (!l.next(200, topic, payload)) continue;
        Json::Value v;
        Json::CharReaderBuilder b;
        std::string errs;
        std::istringstream in(payload);
        if (!Json::parseFromStream(b, in, &v, &errs)) continue;
        if (topic == msg_topic) {
            if (v["seq"].asInt64() <= last_seq) continue; // a repeat
            last_seq = v["seq"].asInt64();
            const std::string text = read_message(l, s, v, group);
            if (!text.empty()) out << "#" << last_seq << " " << v["sender"].asString() << ": " << text << std::endl;
        } else if (v["notice"] == "keys.low" && v["device"] == o.device) {
            const int n =
                upload_keys(l, s, 50 - v["one_time_keys"].asInt(), !v["fallback"].asBool());
            out << "keys.low: uploaded " << n << " one-time keys"
                << (v["fallback"].asBool() ? "" : " and a fallback key") << std::endl;
        } else if (v["notice"] == "devices.changed") {
            out << "devices.changed: " << v["user"].asString() << "/" << v["device"].asString()
                << " " << v["change"].asString() << std::endl;
        }
    }
}

} // namespace

bool is_command(const std::string& c) {
    return c == "e2e-init" || c == "e2e-send" || c == "e2e-history" || c == "e2e-listen" ||
           c == "e2e-attach" || c == "e2e-fetch" ||
           c == "e2e-forget" || c == "devices" || c == "devices-remove" || c == "safety-number" ||
           c == "e2e-verify";
}

std::string missing(const options& o) {
    const bool needs_state = o.command.rfind("e2e-", 0) == 0 || o.command == "safety-number";
    if ((o.command == "safety-number" || o.command == "e2e-verify") && o.user.empty()) return "USER";
    if (o.command == "e2e-verify" && o.number.empty()) return "NUMBER";
    if ((needs_state || o.command == "devices-remove") && o.device.empty()) return "--device";
    if (needs_state && o.state.empty()) return "--state";
    if ((o.command == "e2e-send" || o.command == "e2e-history" || o.command == "e2e-listen") &&
        o.conv.empty())
        return "--conv";
    if (o.command == "e2e-send" && o.text.empty()) return "TEXT";
    if ((o.command == "e2e-attach" || o.command == "e2e-fetch") && o.conv.empty()) return "--conv";
    if (o.command == "e2e-attach" && o.text.empty()) return "FILE";
    if (o.command == "e2e-fetch" && o.seq < 1) return "--seq";
    if (o.command == "e2e-fetch" && o.out.empty()) return "--out";
    if (o.command == "e2e-forget" && o.text.find('/') == std::string::npos) return "USER/DEVICE";
    return "";
}

void run(server& l, const options& o, const std::string& self, std::ostream& out) {
    if (o.command == "e2e-init") {
        device_state s = device_state::create(o.state, self, o.device, passphrase());
        s.save();
        const int n = upload_keys(l, s, 50, true);
        out << "device " << self << "/" << o.device << " registered with " << n
            << " one-time keys and a fallback key\n";
    } else if (o.command == "e2e-send") {
        device_state s = open_state(o, self);
        top_up(l, s);
        const long long seq = send_encrypted(l, s, conversation_of(l, o.conv), o.text);
        out << "stored as #" << seq << " in conversation " << o.conv << " (encrypted)\n";
    } else if (o.command == "e2e-attach") {
        device_state s = open_state(o, self);
        top_up(l, s);
        const conversation c = conversation_of(l, o.conv);
        // The ciphertext next to nothing of the user's: a temporary file of our own, removed after.
        char sealed[] = "/tmp/mqchat-e2e-XXXXXX";
        const int fd = mkstemp(sealed);
        if (fd < 0) throw crypto_error("cannot make a temporary file");
        close(fd);
        struct remove_after {
            const char* path;
            ~remove_after() { std::remove(path); }
        } cleanup{sealed};
        Json::Value info = seal_file(o.text, sealed);
        Json::Value p;
        p["conv"] = Json::Int64(std::stoll(o.conv));
        p["encrypted"] = true;
        p["size"] = Json::Int64(static_cast<long long>(std::filesystem::file_size(sealed)));
        const Json::Value grant = l.call("media.upload", p);
        l.upload(grant["upload_url"].asString(), sealed);
        info["media"] = grant["media"];
        if (!o.type.empty()) info["mime"] = o.type;
        Json::Value plain;
        plain["file"] = info;
        if (!o.caption.empty()) plain["body"] = o.caption;
        const long long seq = send_encrypted(l, s, c, plain, grant["media"].asString());
        out << "stored as #" << seq << " in conversation " << o.conv << " (encrypted file, "
            << info["size"].asUInt64() << " bytes)\n";
    } else if (o.command == "e2e-fetch") {
        device_state s = open_state(o, self);
        const bool group = conversation_of(l, o.conv).group();
        Json::Value p;
        p["conv"] = Json::Int64(std::stoll(o.conv));
        p["after"] = Json::Int64(o.seq - 1);
        p["limit"] = 1;
        const Json::Value r = l.call("history", p);
        if (r["messages"].empty() || r["messages"][0]["seq"].asInt64() != o.seq)
            throw crypto_error("no message #" + std::to_string(o.seq) + " in conversation " + o.conv);
        // In a group the session's key came in an earlier message.
        if (group) find_group_keys(l, s, o.conv, r["messages"]);
        const Json::Value plain = plaintext_of(l, s, r["messages"][0], group);
        const Json::Value& file = plain["file"];
        if (!file.isObject()) throw crypto_error("message #" + std::to_string(o.seq) + " carries no file");
        // The file must be the one the message was stored with: the id inside the ciphertext is
        // the id the server attached.
        if (file["media"].asString() != r["messages"][0]["media"]["id"].asString())
            throw crypto_error("the message's file is not the upload the server attached to it");
        Json::Value u;
        u["media"] = file["media"];
        const Json::Value urls = l.call("media.url", u);
        const std::string sealed = o.out + ".sealed";
        l.download(urls["media"][0]["url"].asString(), sealed);
        try {
            open_file(file, sealed, o.out);
        } catch (...) {
            std::remove(sealed.c_str());
            throw;
        }
        std::remove(sealed.c_str());
        out << "saved " << file["name"].asString() << " (" << file["size"].asUInt64() << " bytes, decrypted) as "
            << o.out << "\n";
    } else if (o.command == "e2e-history") {
        device_state s = open_state(o, self);
        top_up(l, s);
        Json::Value p;
        p["conv"] = Json::Int64(std::stoll(o.conv));
        p["limit"] = o.limit;
        const bool group = conversation_of(l, o.conv).group();
        const Json::Value r = l.call("history", p);
        // Keys the page needs that came before it: read back for them first.
        if (group) find_group_keys(l, s, o.conv, r["messages"]);
        for (const auto& m : r["messages"]) {
            const std::string text = read_message(l, s, m, group);
            if (!text.empty()) out << "#" << m["seq"].asInt64() << " " << m["sender"].asString() << ": " << text << "\n";
        }
    } else if (o.command == "e2e-listen") {
        listen(l, o, self, out);
    } else if (o.command == "e2e-forget") {
        // After its owner re-registered it (new keys) and the user checked them out of band.
        device_state s = open_state(o, self);
        const bool known = s.known.erase(o.text) > 0;
        s.sessions.erase(o.text);
        s.save();
        out << (known ? "forgot the keys and sessions of " : "no keys pinned for ") << o.text
            << "\n";
    } else if (o.command == "safety-number") {
        device_state s = open_state(o, self);
        std::vector<std::string> devices;
        const std::string number = safety_number_with(l, s, o.user, devices);
        s.save(); // the devices it saw are pinned now
        out << "safety number of " << self << " and " << o.user << ":\n  " << number << "\ncovering";
        for (const auto& d : devices)
            out << " " << d;
        out << "\ncompare it with " << o.user
            << "'s (in person or on a call), then run e2e-verify " << o.user << " NUMBER\n";
    } else if (o.command == "e2e-verify") {
        device_state s = open_state(o, self);
        std::vector<std::string> devices;
        const std::string number = safety_number_with(l, s, o.user, devices);
        std::string given, expected;
        for (char ch : o.number)
            if (ch >= '0' && ch <= '9') given += ch;
        for (char ch : number)
            if (ch != ' ') expected += ch;
        if (given != expected)
            throw crypto_error("the safety number does not match: the devices this client sees for " +
                               self + " and " + o.user +
                               " are not the ones the other side sees; do not send until you know why");
        auto& checked = s.verified[o.user];
        checked.clear();
        for (const auto& d : verified_devices(l, s, o.user))
            checked.insert(verified_entry(d.device, d.signing_key));
        s.save();
        out << o.user << " verified: " << checked.size() << " device" << (checked.size() == 1 ? "" : "s")
            << "; a new device of theirs stops sends to them until you verify again\n";
    } else if (o.command == "devices") {
        Json::Value p;
        if (!o.user.empty()) p["user"] = o.user;
        const Json::Value r = l.call("devices.list", p);
        for (const auto& d : r["devices"]) {
            const bool signed_ok =
                verifies(d["signing_key"].asString(),
                         signed_text(r["user"].asString(), d["device"].asString(), "device", "",
                                     d["identity_key"].asString()),
                         d["signature"].asString());
            out << r["user"].asString() << "/" << d["device"].asString() << "\tsigning key "
                << d["signing_key"].asString() << (signed_ok ? "" : "\t(SIGNATURE DOES NOT VERIFY)")
                << "\n";
        }
        if (r["devices"].empty()) out << "no devices\n";
    } else if (o.command == "devices-remove") {
        Json::Value p;
        p["device"] = o.device;
        l.call("devices.remove", p);
        out << "device " << self << "/" << o.device << " removed\n";
    }
}

} // namespace e2e
