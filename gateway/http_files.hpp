#pragma once
/// The web files the gateway serves on its ports beside the WebSocket (the
/// widget, the agents' console, the demo page: what Mosquitto's `http_dir`
/// served before): GET and HEAD of files under one directory, never outside
/// it, with their type, `nosniff` and `no-cache` (they change with each
/// release and are small).

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace mqchat::gateway {

namespace http = boost::beast::http;

/// An answer of one of three shapes, written with async_write.
class file_answer {
public:
    using text = http::response<http::string_body>;
    using file = http::response<http::file_body>;
    using head = http::response<http::empty_body>;

    explicit file_answer(text r) : message_(std::move(r)) {}
    explicit file_answer(file r) : message_(std::move(r)) {}
    explicit file_answer(head r) : message_(std::move(r)) {}

    unsigned status() const {
        return std::visit([](const auto& m) { return static_cast<unsigned>(m.result_int()); }, message_);
    }
    bool keep_alive() const {
        return std::visit([](const auto& m) { return m.keep_alive(); }, message_);
    }
    /// The request's HTTP version and whether it keeps the connection.
    void answer_to(unsigned version, bool keep_alive) {
        std::visit(
            [&](auto& m) {
                m.version(version);
                m.keep_alive(keep_alive);
            },
            message_);
    }
    const std::variant<text, file, head>& message() const { return message_; }

    template <class Stream, class Handler>
    void async_write(Stream& stream, Handler handler) {
        std::visit([&](auto& m) { http::async_write(stream, m, [handler](auto ec, std::size_t) { handler(ec); }); },
                   message_);
    }

private:
    std::variant<text, file, head> message_;
};

/// A short text answer (errors).
file_answer text_answer(http::status status, std::string text);

/// The file a request target names under `http_dir`: the path without its
/// query, percent-decoded, `index.html` for a directory; nullopt for a
/// target that is not an absolute path, leaves the directory (`..`), holds a
/// NUL or a backslash, or is not valid percent-encoding.
std::optional<std::string> file_path(const std::string& http_dir, std::string_view target);

/// The Content-Type for a file name (by extension; application/octet-stream otherwise).
std::string_view content_type(std::string_view path);

/// The answer to GET (or HEAD, `head`) of `target`: the file, or 404.
file_answer answer_file(const std::string& http_dir, std::string_view target, bool head);

} // namespace mqchat::gateway
