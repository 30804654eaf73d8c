#include "http_files.hpp"

#include <filesystem>

namespace mqchat::gateway {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

template <class Message>
void common_headers(Message& m) {
    m.set(http::field::server, "mqchat-gateway");
    m.set(http::field::cache_control, "no-cache");
    m.set("X-Content-Type-Options", "nosniff");
}

} // namespace

file_answer text_answer(http::status status, std::string text) {
    file_answer::text r{status, 11};
    common_headers(r);
    r.set(http::field::content_type, "text/plain; charset=utf-8");
    r.body() = std::move(text);
    r.prepare_payload();
    return file_answer(std::move(r));
}

std::optional<std::string> file_path(const std::string& http_dir, std::string_view target) {
    target = target.substr(0, target.find_first_of("?#"));
    if (target.empty() || target[0] != '/') return std::nullopt;
    std::string decoded;
    for (std::size_t i = 0; i < target.size(); ++i) {
        if (target[i] != '%') {
            decoded += target[i];
            continue;
        }
        if (i + 2 >= target.size()) return std::nullopt;
        const int hi = hex_value(target[i + 1]), lo = hex_value(target[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        decoded += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    if (decoded.find('\0') != std::string::npos || decoded.find('\\') != std::string::npos) return std::nullopt;
    // Every segment: none may be "..".
    for (std::size_t start = 1; start <= decoded.size();) {
        const auto end = std::min(decoded.find('/', start), decoded.size());
        if (decoded.compare(start, end - start, "..") == 0) return std::nullopt;
        start = end + 1;
    }
    std::string path = http_dir;
    while (!path.empty() && path.back() == '/') path.pop_back();
    path += decoded;
    std::error_code ec;
    if (path.back() == '/' || std::filesystem::is_directory(path, ec)) {
        if (path.back() != '/') path += '/';
        path += "index.html";
    }
    return path;
}

std::string_view content_type(std::string_view path) {
    const auto dot = path.rfind('.');
    const std::string_view ext = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
    if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
    if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
    if (ext == "css") return "text/css; charset=utf-8";
    if (ext == "json" || ext == "map") return "application/json";
    if (ext == "txt") return "text/plain; charset=utf-8";
    if (ext == "png") return "image/png";
    if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
    if (ext == "gif") return "image/gif";
    if (ext == "webp") return "image/webp";
    if (ext == "svg") return "image/svg+xml";
    if (ext == "ico") return "image/x-icon";
    if (ext == "woff2") return "font/woff2";
    return "application/octet-stream";
}

file_answer answer_file(const std::string& http_dir, std::string_view target, bool head) {
    if (http_dir.empty()) return text_answer(http::status::not_found, "not found\n");
    const auto path = file_path(http_dir, target);
    if (!path) return text_answer(http::status::bad_request, "bad path\n");
    std::error_code fs_ec;
    if (!std::filesystem::is_regular_file(*path, fs_ec)) return text_answer(http::status::not_found, "not found\n");
    http::file_body::value_type body;
    boost::beast::error_code ec;
    body.open(path->c_str(), boost::beast::file_mode::scan, ec);
    if (ec) return text_answer(http::status::not_found, "not found\n");
    const auto size = body.size();
    if (head) {
        file_answer::head r{http::status::ok, 11};
        common_headers(r);
        r.set(http::field::content_type, std::string(content_type(*path)));
        r.content_length(size);
        return file_answer(std::move(r));
    }
    file_answer::file r{std::piecewise_construct, std::make_tuple(std::move(body)), std::make_tuple(http::status::ok, 11)};
    common_headers(r);
    r.set(http::field::content_type, std::string(content_type(*path)));
    r.content_length(size);
    return file_answer(std::move(r));
}

} // namespace mqchat::gateway
