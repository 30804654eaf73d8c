// Case "e2e_chat" (issue #18): stored chat with end-to-end encrypted
// envelopes against plain messages, in the same run, on the same world
// (stored_chat.cpp's: 50 senders, 200 conversations of 2–20 members, every
// member online). The encrypted phase sends what an Olm client sends: one
// ciphertext per member's device (here one device each) of a typical short
// message's size, so a message to 20 members is 20 ciphertexts.
//
//  - e2e_chat_rate: encrypted messages stored and acked per second at
//    saturation; baseline = plain messages the same way.
//  - e2e_chat_p50_ms / p99: send → delivery at half the encrypted
//    saturation rate; baseline = plain at half its own.
//  - e2e_payload_bytes: the mean payload of an encrypted send (the plain
//    one's as baseline).
//  - e2e_group_chat_rate / p50 / p99: the same with what a group sends
//    through a Megolm session (chat_cli's groups): one group ciphertext a
//    message, whatever the members.

#include "bench.hpp"
#include "chat_traffic.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

void run_e2e_chat(const settings& s) {
    const int users = s.quick ? 80 : 300, senders = s.quick ? 10 : 50, conversations = s.quick ? 40 : 200;
    const auto run_time = std::chrono::milliseconds(s.quick ? 2000 : 8000);
    const auto latency_time = std::chrono::milliseconds(s.quick ? 2000 : 5000);
    constexpr std::size_t ciphertext_chars = 300; // an Olm message of a one-line text, in base64
    constexpr std::size_t group_ciphertext_chars = 200; // a Megolm message of one, signed, in base64
    test::temp_dir dir("bench-e2e-chat");
    test::pg_cluster db(dir);
    test::admin_ok(db.conninfo(), {"migrate"});
    test::admin_ok(db.conninfo(), {"user", "add", "mqchat-bridge", "--password", bridge_password, "--bridge"});
    chat_world w;
    {
        pg::connection c(db.conninfo());
        w = build_world(c, users, senders, conversations);
    }
    test::broker mqtt(dir, db.conninfo(), {}, "mosquitto");
    mqtt.start();
    test::bridge bridge(dir, db.conninfo(), mqtt.port(), bridge_password);
    bridge.start();

    saturation plain_sat, e2e_sat;
    latency plain_half, e2e_half;
    std::string plain_counts;
    {
        chat_traffic plain(w, {mqtt.port()}, chat_path::stored);
        plain.keep_full(run_time / 4);
        plain_sat = plain.keep_full(run_time);
        plain.drain();
        plain_half = plain.offer(plain_sat.acked_per_s / 2, latency_time);
        plain_counts = plain.counts();
    }
    {
        pg::connection c(db.conninfo());
        c.exec("UPDATE conversations SET encrypted = true");
    }
    // The plugin and the bridge read the flag per message (the store function): no restart.
    std::string sealed_counts, group_counts;
    {
        chat_traffic sealed(w, {mqtt.port()}, chat_path::stored, ciphertext_chars);
        sealed.keep_full(run_time / 4);
        e2e_sat = sealed.keep_full(run_time);
        sealed.drain();
        e2e_half = sealed.offer(e2e_sat.acked_per_s / 2, latency_time);
        sealed_counts = sealed.counts();
    }
    // What chat_cli sends in a group: one Megolm ciphertext (a one-line text's is ~200 base64
    // characters; its key went to the devices once, before).
    saturation group_sat;
    latency group_half;
    {
        chat_traffic group(w, {mqtt.port()}, chat_path::stored, group_ciphertext_chars, true);
        group.keep_full(run_time / 4);
        group_sat = group.keep_full(run_time);
        group.drain();
        group_half = group.offer(group_sat.acked_per_s / 2, latency_time);
        group_counts = group.counts();
    }

    double members = 0;
    for (const auto& m : w.members) members += static_cast<double>(m.size());
    members /= static_cast<double>(w.members.size());
    const double e2e_bytes = 100 + members * (static_cast<double>(ciphertext_chars) + 40);
    report("e2e_chat_rate", e2e_sat.acked_per_s, "msg/s", plain_sat.acked_per_s,
           "encrypted envelopes (a ciphertext per member) vs plain messages, same world, same run");
    report("e2e_chat_deliveries", e2e_sat.delivered_per_s, "msg/s", plain_sat.delivered_per_s);
    report("e2e_chat_p50_ms", e2e_half.p50_ms, "ms", plain_half.p50_ms, "at half its saturation rate; plain at half its own");
    report("e2e_chat_p99_ms", e2e_half.p99_ms, "ms", plain_half.p99_ms);
    report("e2e_payload_bytes", e2e_bytes, "B", 60, "mean encrypted send (estimate from the members per conversation)");
    report("e2e_group_chat_rate", group_sat.acked_per_s, "msg/s", plain_sat.acked_per_s,
           "one group (Megolm) ciphertext a message vs plain messages, same world, same run");
    report("e2e_group_chat_p50_ms", group_half.p50_ms, "ms", plain_half.p50_ms, "at half its saturation rate");
    report("e2e_group_chat_p99_ms", group_half.p99_ms, "ms", plain_half.p99_ms);
    note(s, "e2e_chat: plain " + std::to_string(plain_sat.acked_per_s) + " msg/s (" + plain_counts + "); encrypted " +
                std::to_string(e2e_sat.acked_per_s) + " msg/s (" + sealed_counts + "); group " +
                std::to_string(group_sat.acked_per_s) + " msg/s (" + group_counts + "); " +
                std::to_string(members) + " members per conversation on average");
}

} // namespace mqchat::bench
