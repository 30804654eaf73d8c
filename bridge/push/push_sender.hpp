#pragma once
/// Takes the push queue (schema/009) to the providers, on its own thread and
/// database connection, so a slow or dead provider never holds up delivery.
///
/// A push is taken off the queue before it is sent, so a bridge that dies
/// mid-send loses that one push rather than sending it twice; everything
/// still queued survives. 429 and 5xx put it back with exponential backoff
/// and jitter, or after the server's Retry-After; a dead token deletes its
/// device; a push still failing after 8 attempts is dropped and logged.

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "apns.hpp"
#include "common/pg.hpp"
#include "fcm.hpp"

namespace mqchat::bridge {

class push_sender {
public:
    /// Either client may be null: pushes for that platform stay queued.
    push_sender(std::string conninfo, std::unique_ptr<http_client> http, std::unique_ptr<fcm_client> fcm,
                std::unique_ptr<apns_client> apns);
    ~push_sender();
    void start();
    void stop();

private:
    void run();
    bool round(pg::connection& db); ///< false when nothing was due

    std::string conninfo_;
    std::unique_ptr<http_client> http_;
    std::unique_ptr<fcm_client> fcm_;
    std::unique_ptr<apns_client> apns_;
    std::string platforms_; ///< '{fcm,apns}': those with a client
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace mqchat::bridge
