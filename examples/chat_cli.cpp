// chat_cli: a minimal mqchat client with Paho MQTT C++.
//
// The sample demonstrates:
//  - logging in with a user name and password over MQTT 5 with a persistent
//    session (a stable client id per device),
//  - sending a message with a fresh client id and resending it until the
//    server's ack arrives on the inbox (the exactly-once rule),
//  - listening to a conversation and dropping seqs already seen.
//
// usage:
//   chat_cli [--uri tcp://127.0.0.1:1883] --user NAME --password PW --conv ID send TEXT
//   chat_cli [--uri ...] --user NAME --password PW --conv ID listen

#include <mqtt/async_client.h>

#include <json/json.h>

#include <chrono>
#include <iostream>
#include <random>
#include <sstream>

namespace {

std::string random_id() {
    std::random_device rd;
    std::ostringstream os;
    os << "cli-" << std::hex << rd() << rd();
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

int usage() {
    std::cerr << "usage: chat_cli [--uri URI] --user NAME --password PW --conv ID (send TEXT | listen)\n";
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    std::string uri = "tcp://127.0.0.1:1883", user, password, conv, command, text;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--uri") uri = next();
        else if (a == "--user") user = next();
        else if (a == "--password") password = next();
        else if (a == "--conv") conv = next();
        else if (command.empty()) command = a;
        else text = a;
    }
    if (user.empty() || conv.empty() || (command != "send" && command != "listen") ||
        (command == "send" && text.empty()))
        return usage();

    const std::string inbox = "chat/user/" + user + "/inbox";
    const std::string msg_topic = "chat/conv/" + conv + "/msg";
    try {
        mqtt::async_client client(uri, user + "-cli-" + command, mqtt::create_options(MQTTVERSION_5));
        auto options = mqtt::connect_options_builder()
                           .mqtt_version(MQTTVERSION_5)
                           .clean_start(false)
                           .properties({{mqtt::property::SESSION_EXPIRY_INTERVAL, 3600}})
                           .user_name(user)
                           .password(password)
                           .automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(10))
                           .finalize();
        client.start_consuming();
        client.connect(options)->wait();

        if (command == "listen") {
            client.subscribe(msg_topic, 1)->wait();
            std::cout << "listening to conversation " << conv << " (Ctrl-C to stop)" << std::endl;
            long long last_seq = 0;
            while (true) {
                auto m = client.consume_message();
                if (!m) continue;
                const Json::Value v = parse(m->to_string());
                const long long seq = v["seq"].asInt64();
                if (seq <= last_seq) continue; // a repeat after a server restart
                if (last_seq && seq != last_seq + 1)
                    std::cout << "(missed " << seq - last_seq - 1 << " messages)" << std::endl;
                last_seq = seq;
                std::cout << "#" << seq << " " << v["sender"].asString() << ": " << v["body"].asString() << std::endl;
            }
        }

        client.subscribe(inbox, 1)->wait();
        Json::Value env;
        env["id"] = random_id();
        env["body"] = text;
        Json::StreamWriterBuilder w;
        w["indentation"] = "";
        const std::string payload = Json::writeString(w, env);
        // Resend until acked: the server stores the id once and acks every copy.
        for (int attempt = 1; attempt <= 10; ++attempt) {
            client.publish("chat/conv/" + conv + "/send", payload, 1, false);
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
            while (std::chrono::steady_clock::now() < until) {
                auto m = client.try_consume_message_for(std::chrono::milliseconds(200));
                if (!m || m->get_topic() != inbox) continue;
                const Json::Value v = parse(m->to_string());
                if (v.isMember("error") && v["id"].asString() == env["id"].asString()) {
                    std::cerr << "refused: " << v["error"]["code"].asString() << ": "
                              << v["error"]["message"].asString() << std::endl;
                    return 1;
                }
                if (v["ack"].asString() == env["id"].asString()) {
                    std::cout << "stored as #" << v["seq"].asInt64() << " in conversation " << conv << std::endl;
                    client.disconnect()->wait();
                    return 0;
                }
            }
            std::cerr << "no ack yet, resending (attempt " << attempt + 1 << ")" << std::endl;
        }
        std::cerr << "gave up: no ack after 10 attempts" << std::endl;
        return 1;
    } catch (const mqtt::exception& e) {
        std::cerr << "chat_cli: " << e.what() << std::endl;
        return 1;
    }
}
