#include "pubsub.hpp"

#include <mosquitto.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "bench.hpp"

namespace mqchat::bench {

pubsub_result measure_pubsub(const pubsub_setup& setup) {
    client_pool pool("127.0.0.1", setup.port);
    const int pub = pool.add(setup.publisher);
    const int sub = pool.add(setup.subscriber);
    int suback = -2;
    bool refused = false;
    pool.on().on_connect = [&](int, int rc) { refused |= rc != 0; };
    pool.on().on_subscribe = [&](int, int, int granted) { suback = granted; };
    pool.connect_all();
    if (!pool.run([&] { return pool.connected() == 2 || refused; }, std::chrono::seconds(20)) || refused)
        throw std::runtime_error("pubsub clients could not connect");
    pool.subscribe(sub, setup.topic, setup.qos);
    if (!pool.run([&] { return suback != -2; }, std::chrono::seconds(10)) || suback != setup.qos)
        throw std::runtime_error("subscription to " + setup.topic + " refused (" + std::to_string(suback) + ")");

    std::vector<char> payload(static_cast<std::size_t>(setup.payload_bytes), 'x');
    std::uint64_t sent = 0, received = 0;
    bool measuring_latency = false;
    std::vector<double> latencies;
    pool.on().on_message = [&](int, const mosquitto_message& m) {
        ++received;
        if (measuring_latency && setup.typing_json) {
            const std::string_view text(static_cast<const char*>(m.payload), static_cast<std::size_t>(m.payloadlen));
            const auto at = text.find("\"at\":");
            if (at != std::string_view::npos)
                latencies.push_back(static_cast<double>(now_ns() - std::strtoll(text.data() + at + 5, nullptr, 10)) / 1e6);
        } else if (measuring_latency && m.payloadlen >= 8) {
            std::int64_t stamp = 0;
            std::memcpy(&stamp, m.payload, 8);
            latencies.push_back(static_cast<double>(now_ns() - stamp) / 1e6);
        }
    };
    auto send_one = [&] {
        const std::int64_t stamp = now_ns();
        if (setup.typing_json) {
            const std::string json = "{\"typing\":true,\"at\":" + std::to_string(stamp) + "}";
            pool.publish(pub, setup.topic, json.data(), static_cast<int>(json.size()), setup.qos);
        } else {
            std::memcpy(payload.data(), &stamp, 8);
            pool.publish(pub, setup.topic, payload.data(), static_cast<int>(payload.size()), setup.qos);
        }
        ++sent;
    };

    const std::uint64_t window = setup.qos == 0 ? 500 : 200;
    pubsub_result out;
    if (setup.fixed_messages > 0) { // an exact amount of work, e.g. for instruction counts
        pool.run([&] { return received >= setup.fixed_messages; }, std::chrono::minutes(10), [&] {
            while (sent < setup.fixed_messages && sent - received < window) send_one();
        });
        if (received < setup.fixed_messages) throw std::runtime_error("fixed workload did not complete");
        pool.disconnect_all();
        return out;
    }

    // Saturation: keep a window of messages in flight, count what arrives.
    auto fill = [&] {
        while (sent - received < window) send_one();
    };
    pool.run([] { return false; }, setup.throughput_time / 5, fill); // warm up
    const std::uint64_t r0 = received;
    const double cpu0 = cpu_seconds(setup.broker, true);
    const auto t0 = clock::now();
    pool.run([] { return false; }, setup.throughput_time, fill);
    const double secs = std::chrono::duration<double>(clock::now() - t0).count();
    out.rate = static_cast<double>(received - r0) / secs;
    const double broker_cpu = cpu_seconds(setup.broker, true) - cpu0;
    out.broker_cpu = broker_cpu / secs;
    out.broker_us_per_msg = received > r0 ? broker_cpu * 1e6 / static_cast<double>(received - r0) : 0;
    // QoS 0 may be dropped under load; wait for what is coming, then move on.
    pool.run([&] { return received >= sent; }, std::chrono::seconds(5));
    received = sent;

    // Latency: a steady, moderate rate.
    measuring_latency = true;
    const std::uint64_t latency_start = sent;
    const auto l0 = clock::now();
    pool.run([] { return false; }, setup.latency_time, [&] {
        const double elapsed = std::chrono::duration<double>(clock::now() - l0).count();
        const auto due = static_cast<std::uint64_t>(elapsed * setup.latency_rate);
        while (sent - latency_start < due) send_one();
    });
    pool.run([&] { return received >= sent; }, std::chrono::seconds(5));
    out.latency_samples = latencies.size();
    out.p50_ms = percentile(latencies, 50);
    out.p99_ms = percentile(latencies, 99);
    pool.disconnect_all();
    return out;
}

} // namespace mqchat::bench
