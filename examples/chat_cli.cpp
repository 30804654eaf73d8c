// chat_cli: an mqchat client in a terminal, on Paho MQTT C++ (MQTT 5).
//
// It shows what a real client does: logs in with a stable client id and a
// persistent session; makes requests (conversation list, history, search,
// create) with a response topic and correlation data and matches the replies
// on its inbox; sends with a fresh id and resends until the ack arrives (the
// exactly-once rule); drops seqs it has already shown.
//
// usage: chat_cli [--uri tcp://127.0.0.1:1883] --user NAME --password PW COMMAND
//   list                                 my conversations, latest first, with unread counts
//   history --conv ID [--before SEQ] [--limit N]
//   search TEXT [--conv ID]
//   create --member NAME [--member NAME ...] [--title T] [--encrypted]
//   send --conv ID TEXT                  send and wait for the ack
//   attach --conv ID FILE [--caption T] [--type MIME]
//                                        upload a file (media.upload + HTTP PUT) and send it
//   fetch MEDIA_ID --out FILE            download an attachment (media.url + HTTP GET)
//   listen --conv ID                     print messages as they come
//   open --conv ID                       the last page, then live messages; type to send,
//                                        /more scrolls up, /search TEXT, /attach FILE [caption], /quit
//   e2e-init --device ID --state FILE    an Olm account for this device; uploads its keys
//   e2e-send --conv ID --device ID --state FILE TEXT
//                                        encrypted for every member's devices (conv.members; a
//                                        group through a Megolm session); waits for the ack
//   e2e-history --conv ID --device ID --state FILE [--limit N]
//                                        the newest page, decrypted where addressed to this device
//   e2e-listen --conv ID --device ID --state FILE
//                                        live messages decrypted; answers keys.low with an upload
//   e2e-attach --conv ID --device ID --state FILE PATH [--caption T]
//                                        the file encrypted on this device, uploaded, sent encrypted
//   e2e-fetch --conv ID --seq N --out FILE --device ID --state FILE
//                                        message #N's encrypted file, downloaded and decrypted
//   e2e-forget --device ID --state FILE USER/DEVICE
//                                        drops the keys pinned for a device (re-registered with new ones)
//   safety-number NAME --device ID --state FILE
//                                        the number you and NAME compare out of band (all devices)
//   e2e-verify NAME NUMBER --device ID --state FILE
//                                        NAME's devices are checked: a new one stops sends to NAME
//   devices [NAME]                       a user's devices (yours by default), signatures checked
//   devices-remove --device ID           removes one of your devices from the key directory
//
// End-to-end encryption (docs/e2e.md) is in e2e/: libolm sessions per
// device, the state file under MQCHAT_E2E_PASSPHRASE.
//
// Attachments (docs/protocol.md, "Attachments") travel over HTTP with
// libcurl: the bytes go straight from the file to the media service and
// back, never through MQTT.

#include <mqtt/async_client.h>

#include <curl/curl.h>
#include <json/json.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include <poll.h>

#include "e2e/commands.hpp"

namespace {

using namespace std::chrono_literals;

std::string random_id(const char* prefix) {
    std::random_device rd;
    std::ostringstream os;
    os << prefix << std::hex << rd() << rd();
    return os.str();
}

Json::Value parse(const std::string& s) {
    Json::Value v;
    Json::CharReaderBuilder b;
    std::string errs;
    std::istringstream in(s);
    Json::parseFromStream(b, in, &v, &errs);
    return v;
}

std::string compact(const Json::Value& v) {
    Json::StreamWriterBuilder w;
    w["indentation"] = "";
    w["emitUTF8"] = true;
    return Json::writeString(w, v);
}

struct failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The connection, the inbox, and requests matched by correlation data.
class session {
public:
    session(const std::string& uri, const std::string& user, const std::string& password, const std::string& role)
        : user_(user), inbox_("chat/user/" + user + "/inbox"),
          client_(uri, user + "-cli-" + role, mqtt::create_options(MQTTVERSION_5)) {
        client_.start_consuming();
        const auto options = mqtt::connect_options_builder()
                                 .mqtt_version(MQTTVERSION_5)
                                 .clean_start(false)
                                 .properties({{mqtt::property::SESSION_EXPIRY_INTERVAL, 3600}})
                                 .user_name(user)
                                 .password(password)
                                 .automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(10))
                                 .finalize();
        // A first login may be closed without an answer while the server
        // checks the password (docs/protocol.md, Logging in): come back.
        const auto until = std::chrono::steady_clock::now() + 30s;
        for (auto pause = 50ms;; pause = std::min(pause * 2, 1000ms)) {
            try {
                client_.connect(options)->wait();
                break;
            } catch (const mqtt::exception& e) {
                // A refusal (0x80 and up) is final. Paho reports a refused
                // CONNACK's code as the return code, not the reason code.
                const bool refused = e.get_reason_code() >= 0x80 || e.get_return_code() >= 0x80;
                if (refused || std::chrono::steady_clock::now() + pause >= until) throw;
            }
            std::this_thread::sleep_for(pause);
        }
        client_.subscribe(inbox_, 1)->wait();
    }
    ~session() {
        try {
            client_.disconnect()->wait_for(std::chrono::seconds(2));
        } catch (const mqtt::exception&) {
        }
    }

    mqtt::async_client& client() { return client_; }

    /// Subscribes to a conversation's topic. A member's subscription to a
    /// conversation it has just joined may be refused while the broker
    /// cannot yet confirm the membership (docs/protocol.md, "Refused
    /// subscriptions"): asked again every 200 ms for up to 15 s.
    void subscribe_as_member(const std::string& topic) {
        const auto until = std::chrono::steady_clock::now() + 15s;
        while (true) {
            int code = 0;
            try {
                auto token = client_.subscribe(topic, 1);
                token->wait();
                const auto codes = token->get_subscribe_response().get_reason_codes();
                if (!codes.empty()) code = codes.front();
            } catch (const mqtt::exception& e) {
                if (e.get_reason_code() < 0x80) throw; // not a refusal
                code = e.get_reason_code();
            }
            if (code < 0x80) return;
            if (std::chrono::steady_clock::now() >= until)
                throw std::runtime_error("the broker refuses the subscription to " + topic + " (code " +
                                         std::to_string(code) + ")");
            std::this_thread::sleep_for(200ms);
        }
    }

    /// A request; returns its result or throws with the server's error.
    Json::Value call(const std::string& method, const Json::Value& params) {
        const std::string corr = random_id("req-");
        mqtt::properties props{{mqtt::property::RESPONSE_TOPIC, inbox_}, {mqtt::property::CORRELATION_DATA, corr}};
        client_.publish(mqtt::message::create("chat/rpc/" + method, compact(params), 1, false, props))->wait();
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < until) {
            mqtt::const_message_ptr m;
            if (!client_.try_consume_message_for(&m, 200ms) || !m) continue;
            const auto& p = m->get_properties();
            if (m->get_topic() == inbox_ && p.contains(mqtt::property::CORRELATION_DATA) &&
                mqtt::get<std::string>(p, mqtt::property::CORRELATION_DATA) == corr) {
                const Json::Value reply = parse(m->to_string());
                if (reply.isMember("error"))
                    throw failure(reply["error"]["code"].asString() + ": " + reply["error"]["message"].asString());
                return reply["result"];
            }
            other_.push_back(m); // a message or notice that came meanwhile
        }
        throw failure("no reply to " + method + " within 10 s");
    }

    /// Sends one message and resends it until its ack names it; returns the seq.
    long long send(const std::string& conv, const std::string& text) {
        Json::Value env;
        env["body"] = text;
        return send_envelope(conv, env);
    }

    /// The same for any envelope (an attachment's); `id` is filled in here.
    long long send_envelope(const std::string& conv, Json::Value env) {
        const std::string id = random_id("cli-");
        env["id"] = id;
        const std::string topic = "chat/conv/" + conv + "/send";
        for (int attempt = 0; attempt < 5; ++attempt) {
            client_.publish(topic, compact(env), 1, false)->wait();
            const auto until = std::chrono::steady_clock::now() + 5s;
            while (std::chrono::steady_clock::now() < until) {
                mqtt::const_message_ptr m;
                if (!client_.try_consume_message_for(&m, 200ms) || !m) continue;
                if (m->get_topic() != inbox_) {
                    other_.push_back(m);
                    continue;
                }
                const Json::Value v = parse(m->to_string());
                if (v["ack"] == id) return v["seq"].asInt64();
                if (v["id"] == id && v.isMember("error"))
                    throw failure(v["error"]["code"].asString() + ": " + v["error"]["message"].asString());
            }
        }
        throw failure("no ack after 5 attempts");
    }

    /// The next message that is not a reply (live messages, notices).
    mqtt::const_message_ptr next(std::chrono::milliseconds wait) {
        if (!other_.empty()) {
            auto m = other_.front();
            other_.erase(other_.begin());
            return m;
        }
        mqtt::const_message_ptr m;
        if (client_.try_consume_message_for(&m, wait)) return m;
        return nullptr;
    }

private:
    std::string user_, inbox_;
    mqtt::async_client client_;
    std::vector<mqtt::const_message_ptr> other_;
};

/// "183 KB": sizes as people read them.
std::string human_size(long long bytes) {
    std::ostringstream os;
    if (bytes < 1024) os << bytes << " B";
    else if (bytes < 1024 * 1024) os << (bytes + 512) / 1024 << " KB";
    else os << (bytes * 10 / (1024 * 1024)) / 10 << "." << (bytes * 10 / (1024 * 1024)) % 10 << " MB";
    return os.str();
}

/// "[image IMG_2210.jpg, 1600×1200, 179 KB, id 4f0c…]": an attachment in a line of text.
std::string attachment_of(const Json::Value& m) {
    const Json::Value& a = m["media"];
    std::ostringstream os;
    os << "[" << m["type"].asString() << " " << a["name"].asString();
    if (a.isMember("width")) os << ", " << a["width"].asInt() << "×" << a["height"].asInt();
    os << ", " << human_size(a["size"].asInt64()) << ", id " << a["id"].asString() << "]";
    return os.str();
}

std::string line_of(const Json::Value& m) {
    std::ostringstream os;
    os << "#" << m["seq"].asInt64() << " " << m["sender"].asString();
    if (m["deleted"].asBool()) return os.str() + ": (deleted)";
    const std::string type = m["type"].asString();
    if (type == "edit" || type == "delete" || type == "reaction" || type == "unreaction")
        return os.str() + " " + type + " #" + std::to_string(m["ref"].asInt64()) +
               (m["body"].asString().empty() ? "" : ": " + m["body"].asString());
    os << ": ";
    if (type == "e2e") return os.str() + "(encrypted: e2e-history reads it)";
    if (m["media"].isObject()) os << attachment_of(m) << (m["body"].asString().empty() ? "" : " ");
    os << m["body"].asString();
    if (m["edited"].asBool()) os << " (edited)";
    if (m.isMember("reply_to")) os << "  ↩ #" << m["reply_to"].asInt64();
    for (const auto& r : m["reactions"].getMemberNames()) os << "  " << r << " " << m["reactions"][r].size();
    return os.str();
}

void print_list(session& s) {
    Json::Value p;
    p["limit"] = 50;
    const Json::Value r = s.call("conv.list", p);
    for (const auto& c : r["conversations"]) {
        const std::string name = c.isMember("title") ? c["title"].asString() : "with " + c["with"].asString();
        std::cout << c["conv"].asInt64() << "\t" << name << (c["encrypted"].asBool() ? " (encrypted)" : "") << "\t"
                  << c["unread"].asInt64() << " unread";
        if (c["last_message"].isObject()) std::cout << "\t" << line_of(c["last_message"]);
        std::cout << "\n";
    }
}

/// Prints a page older than `before` (0: the newest); returns the oldest seq shown, 0 when none.
long long print_history(session& s, const std::string& conv, long long before, int limit) {
    Json::Value p;
    p["conv"] = Json::Int64(std::stoll(conv));
    p["limit"] = limit;
    if (before > 0) p["before"] = Json::Int64(before);
    const Json::Value r = s.call("history", p);
    for (const auto& m : r["messages"]) std::cout << line_of(m) << "\n";
    if (!r["more"].asBool()) std::cout << "(beginning of the conversation)\n";
    return r["messages"].empty() ? 0 : r["messages"][0]["seq"].asInt64();
}

void print_search(session& s, const std::string& text, const std::string& conv) {
    Json::Value p;
    p["q"] = text;
    if (!conv.empty()) p["conv"] = Json::Int64(std::stoll(conv));
    const Json::Value r = s.call("search", p);
    if (r["hits"].empty()) std::cout << "no matches\n";
    for (const auto& h : r["hits"])
        std::cout << "conversation " << h["message"]["conv"].asInt64() << " #" << h["message"]["seq"].asInt64() << " "
                  << h["message"]["sender"].asString() << ": " << h["snippet"].asString() << "\n";
}

/// Prints live messages of `conv`, dropping repeats (seq already shown).
void show_live(const mqtt::const_message_ptr& m, const std::string& msg_topic, long long& last_seq) {
    if (!m || m->get_topic() != msg_topic) return;
    const Json::Value v = parse(m->to_string());
    if (v["seq"].asInt64() <= last_seq) return; // a repeat after a server restart
    last_seq = v["seq"].asInt64();
    std::cout << line_of(v) << std::endl;
}

/// Its MIME type from the file's extension (the media service sniffs the
/// bytes anyway and refuses a mismatch); --type overrides it.
std::string type_of(const std::string& path) {
    static const std::map<std::string, std::string> types = {
        {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"png", "image/png"},  {"gif", "image/gif"},
        {"webp", "image/webp"}, {"pdf", "application/pdf"}, {"txt", "text/plain"}, {"mp3", "audio/mpeg"},
        {"ogg", "audio/ogg"},  {"mp4", "video/mp4"},  {"webm", "video/webm"}, {"zip", "application/zip"}};
    const auto dot = path.rfind('.');
    std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    const auto it = types.find(ext);
    return it == types.end() ? "application/octet-stream" : it->second;
}

std::size_t append_body(char* data, std::size_t size, std::size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

/// PUTs `path` to `url` (streamed from the file); returns the HTTP status and fills `reply`.
long http_put_file(const std::string& url, const std::string& path, const std::string& type, std::string& reply) {
    FILE* in = std::fopen(path.c_str(), "rb");
    if (!in) throw failure("cannot read " + path);
    std::fseek(in, 0, SEEK_END);
    const long size = std::ftell(in);
    std::fseek(in, 0, SEEK_SET);
    CURL* curl = curl_easy_init();
    curl_slist* headers = curl_slist_append(nullptr, ("Content-Type: " + type).c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READDATA, in);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    std::fclose(in);
    if (rc != CURLE_OK) throw failure(std::string("upload failed: ") + curl_easy_strerror(rc));
    return status;
}

std::size_t write_file(char* data, std::size_t size, std::size_t n, void* out) {
    static_cast<std::ofstream*>(out)->write(data, static_cast<std::streamsize>(size * n));
    return size * n;
}

/// Uploads a file and sends it as an attachment; returns the message's seq.
long long send_attachment(session& s, const std::string& conv, const std::string& path, const std::string& caption,
                          std::string type) {
    std::ifstream probe(path, std::ios::binary | std::ios::ate);
    if (!probe) throw failure("cannot read " + path);
    const long long size = probe.tellg();
    if (type.empty()) type = type_of(path);
    const auto slash = path.rfind('/');
    Json::Value p;
    p["conv"] = Json::Int64(std::stoll(conv));
    p["name"] = slash == std::string::npos ? path : path.substr(slash + 1);
    p["type"] = type;
    p["size"] = Json::Int64(size);
    const Json::Value grant = s.call("media.upload", p);
    std::string reply;
    const long status = http_put_file(grant["upload_url"].asString(), path, type, reply);
    const Json::Value checked = parse(reply);
    if (status != 200)
        throw failure("the media service refused " + path + ": " + checked["error"]["code"].asString() + ": " +
                      checked["error"]["message"].asString());
    Json::Value env;
    env["type"] = type.rfind("image/", 0) == 0 ? "image" : "file";
    env["media"] = grant["media"];
    if (!caption.empty()) env["body"] = caption;
    return s.send_envelope(conv, env);
}

/// GETs `url` into the file at `out_path`; throws unless the answer is 200.
void http_get_file(const std::string& url, const std::string& out_path) {
    std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
    if (!out) throw failure("cannot write " + out_path);
    CURL* curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_file);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK || status != 200)
        throw failure("download failed: " + (rc != CURLE_OK ? std::string(curl_easy_strerror(rc)) : "HTTP " + std::to_string(status)));
}

/// Downloads an attachment into `out`.
void fetch_attachment(session& s, const std::string& media, const std::string& out_path) {
    Json::Value p;
    p["media"] = media;
    const Json::Value r = s.call("media.url", p);
    http_get_file(r["media"][0]["url"].asString(), out_path);
    std::cout << "saved " << r["media"][0]["name"].asString() << " (" << r["media"][0]["mime"].asString() << ", "
              << human_size(r["media"][0]["size"].asInt64()) << ") as " << out_path << "\n";
}

int usage() {
    std::cerr << "usage: chat_cli [--uri URI] --user NAME --password PW "
                 "(list | history --conv ID [--before SEQ] [--limit N] | search TEXT [--conv ID] |\n"
                 "       create --member NAME ... [--title T] | send --conv ID TEXT |\n"
                 "       attach --conv ID FILE [--caption T] [--type MIME] | fetch MEDIA_ID --out FILE |\n"
                 "       listen --conv ID | open --conv ID |\n"
                 "       e2e-init --device ID --state FILE | e2e-send --conv ID --device ID --state FILE TEXT |\n"
                 "       e2e-history --conv ID --device ID --state FILE | e2e-listen --conv ID --device ID --state FILE |\n"
                 "       e2e-attach --conv ID --device ID --state FILE PATH [--caption T] |\n"
                 "       e2e-fetch --conv ID --seq N --out FILE --device ID --state FILE |\n"
                 "       e2e-forget --device ID --state FILE USER/DEVICE |\n"
                 "       devices [NAME] | devices-remove --device ID |\n"
                 "       safety-number NAME --device ID --state FILE | e2e-verify NAME NUMBER --device ID --state FILE)\n"
                 "  create ... --encrypted: an end-to-end encrypted conversation\n";
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    std::string uri = "tcp://127.0.0.1:1883", user, password, conv, command, text, title, caption, type, out;
    std::vector<std::string> members, more;
    long long before = 0;
    int limit = 20;
    bool encrypted = false;
    e2e::options e2e_opts;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--uri") uri = next();
        else if (a == "--user") user = next();
        else if (a == "--password") password = next();
        else if (a == "--conv") conv = next();
        else if (a == "--before") before = std::atoll(next().c_str());
        else if (a == "--limit") limit = std::atoi(next().c_str());
        else if (a == "--member") members.push_back(next());
        else if (a == "--title") title = next();
        else if (a == "--caption") caption = next();
        else if (a == "--type") type = next();
        else if (a == "--out") out = next();
        else if (a == "--device") e2e_opts.device = next();
        else if (a == "--state") e2e_opts.state = next();
        else if (a == "--encrypted") encrypted = true;
        else if (a == "--seq") e2e_opts.seq = std::atoll(next().c_str());
        else if (command.empty()) command = a;
        else if (text.empty()) text = a;
        else more.push_back(a); // e2e-verify USER NUMBER (the number with or without quotes)
    }
    const bool needs_conv =
        command == "history" || command == "send" || command == "listen" || command == "open" || command == "attach";
    if (user.empty() || command.empty() || (needs_conv && conv.empty()) ||
        ((command == "send" || command == "search" || command == "attach" || command == "fetch") && text.empty()) ||
        (command == "create" && members.empty()) || (command == "fetch" && out.empty()))
        return usage();
    const bool e2e_command = e2e::is_command(command);
    if (e2e_command) {
        e2e_opts.command = command;
        e2e_opts.conv = conv;
        e2e_opts.text = text;
        e2e_opts.user = text;
        for (const auto& m : more) e2e_opts.number += m + " ";
        e2e_opts.caption = caption;
        e2e_opts.type = type;
        e2e_opts.out = out;
        if (limit != 20) e2e_opts.limit = limit;
        if (const std::string m = e2e::missing(e2e_opts); !m.empty()) {
            std::cerr << "chat_cli: " << command << " needs " << m << "\n";
            return usage();
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);

    try {
        session s(uri, user, password, command);
        const std::string msg_topic = "chat/conv/" + conv + "/msg";
        if (e2e_command) {
            e2e::server l{[&](const std::string& method, const Json::Value& p) { return s.call(method, p); },
                          [&](const std::string& c, const Json::Value& env) { return s.send_envelope(c, env); },
                          [&](const std::string& topic) { s.subscribe_as_member(topic); },
                          [&](int wait_ms, std::string& topic, std::string& payload) {
                              const auto m = s.next(std::chrono::milliseconds(wait_ms));
                              if (!m) return false;
                              topic = m->get_topic();
                              payload = m->to_string();
                              return true;
                          },
                          [&](const std::string& url, const std::string& path) {
                              std::string reply;
                              const long status = http_put_file(url, path, "application/octet-stream", reply);
                              if (status != 200)
                                  throw failure("the media service refused the encrypted file: HTTP " +
                                                std::to_string(status) + " " + reply);
                              return reply;
                          },
                          [&](const std::string& url, const std::string& path) { http_get_file(url, path); }};
            e2e::run(l, e2e_opts, user, std::cout);
        } else if (command == "list") {
            print_list(s);
        } else if (command == "history") {
            print_history(s, conv, before, limit);
        } else if (command == "search") {
            print_search(s, text, conv);
        } else if (command == "create") {
            Json::Value p;
            for (const auto& m : members) p["members"].append(m);
            if (!title.empty()) p["title"] = title;
            if (encrypted) p["encrypted"] = true;
            const Json::Value r = s.call("conv.create", p);
            std::cout << (r["created"].asBool() ? "created" : "found") << (encrypted ? " encrypted" : "")
                      << " conversation " << r["conv"].asInt64() << "\n";
        } else if (command == "send") {
            const long long seq = s.send(conv, text);
            std::cout << "stored as #" << seq << " in conversation " << conv << "\n";
        } else if (command == "attach") {
            const long long seq = send_attachment(s, conv, text, caption, type);
            std::cout << "stored as #" << seq << " in conversation " << conv << "\n";
        } else if (command == "fetch") {
            fetch_attachment(s, text, out);
        } else if (command == "listen" || command == "open") {
            s.subscribe_as_member(msg_topic);
            long long last_seq = 0, oldest = 0;
            if (command == "open") {
                oldest = print_history(s, conv, 0, limit);
                Json::Value p;
                p["conv"] = Json::Int64(std::stoll(conv));
                p["limit"] = 1;
                const Json::Value newest = s.call("history", p);
                if (!newest["messages"].empty()) last_seq = newest["messages"][0]["seq"].asInt64();
                std::cout << "-- type to send; /more, /search TEXT, /attach FILE [caption], /quit --" << std::endl;
            } else {
                std::cout << "listening to conversation " << conv << " (Ctrl-C to stop)" << std::endl;
            }
            // One thread: what is typed (when stdin has a line) and what arrives, in turn.
            while (true) {
                pollfd in{0, POLLIN, 0};
                if (command == "open" && poll(&in, 1, 0) > 0) {
                    std::string line;
                    if (!std::getline(std::cin, line) || line == "/quit") break;
                    try {
                        if (line == "/more") {
                            if (oldest > 1) oldest = print_history(s, conv, oldest, limit);
                        } else if (line.rfind("/search ", 0) == 0) {
                            print_search(s, line.substr(8), conv);
                        } else if (line.rfind("/attach ", 0) == 0) {
                            const std::string rest = line.substr(8);
                            const auto space = rest.find(' ');
                            send_attachment(s, conv, rest.substr(0, space),
                                            space == std::string::npos ? "" : rest.substr(space + 1), "");
                        } else if (!line.empty()) {
                            s.send(conv, line);
                        }
                    } catch (const failure& e) {
                        std::cerr << "error: " << e.what() << std::endl;
                    }
                }
                show_live(s.next(200ms), msg_topic, last_seq);
            }
        } else {
            return usage();
        }
        return 0;
    } catch (const failure& e) {
        std::cerr << "chat_cli: " << e.what() << "\n";
        return 1;
    } catch (const mqtt::exception& e) {
        std::cerr << "chat_cli: " << e.what() << "\n";
        return 1;
    } catch (const std::runtime_error& e) { // e2e::crypto_error: a key, a signature, the state file
        std::cerr << "chat_cli: " << e.what() << "\n";
        return 1;
    }
}
