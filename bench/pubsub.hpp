#pragma once
/// One publisher and one subscriber through a broker: the rate at
/// saturation (closed loop, a window of messages in flight) and the latency
/// at a fixed, moderate rate (open loop). Shared by the overhead cases.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "client_pool.hpp"

namespace mqchat::bench {

struct pubsub_setup {
    int port = 0;
    pool_client_options publisher, subscriber;
    std::string topic;
    int qos = 0;
    int payload_bytes = 64;
    std::chrono::milliseconds throughput_time{3000};
    std::chrono::milliseconds latency_time{2000};
    double latency_rate = 2000; ///< messages per second in the latency phase
    pid_t broker = 0;           ///< to sample its CPU
    std::uint64_t fixed_messages = 0; ///< > 0: send exactly this many (closed loop), no timing phases
    /// Send what a typing indicator is, {"typing":true,"at":<send time>},
    /// instead of payload_bytes of filler (the plugin checks typing payloads).
    bool typing_json = false;
};

struct pubsub_result {
    double rate = 0;          ///< messages per second received at saturation
    double broker_cpu = 0;    ///< share of one core the broker used then (0..1)
    double broker_us_per_msg = 0; ///< broker CPU time per message delivered, microseconds
    double p50_ms = 0, p99_ms = 0;
    std::size_t latency_samples = 0;
};

pubsub_result measure_pubsub(const pubsub_setup& setup);

} // namespace mqchat::bench
