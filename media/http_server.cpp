#include "http_server.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <stdexcept>

#include "common/http_endpoint.hpp"
#include "common/log.hpp"
#include "common/media_url.hpp"
#include "download.hpp"
#include "upload.hpp"

namespace mqchat::media {

struct http_server::request_state {
    std::unique_ptr<upload_session> upload;
    std::string origin;
    bool answered = false;
};

namespace {

/// Headers and URL of one request, and the buffer for reading its body, fit in this.
constexpr std::size_t connection_memory = 32 * 1024;

std::string header(MHD_Connection* c, const char* name) {
    const char* v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    return v ? v : "";
}
std::optional<std::string> optional_header(MHD_Connection* c, const char* name) {
    const char* v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    return v ? std::optional<std::string>(v) : std::nullopt;
}
std::string query(MHD_Connection* c, const char* name) {
    const char* v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    return v ? v : "";
}

struct route {
    enum kind { none, upload, media, thumb } what = none;
    std::string id;
};

ssize_t read_blob(void* cls, std::uint64_t, char* buf, std::size_t max) {
    auto* blob = static_cast<blob_reader*>(cls);
    try {
        const std::size_t got = blob->read(buf, max);
        if (got == 0) return MHD_CONTENT_READER_END_WITH_ERROR; // ended before its length
        return static_cast<ssize_t>(got);
    } catch (const std::exception& e) {
        log::warning() << "download stopped: " << e.what();
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}
void free_blob(void* cls) { delete static_cast<blob_reader*>(cls); }
ssize_t no_body(void*, std::uint64_t, char*, std::size_t) { return MHD_CONTENT_READER_END_WITH_ERROR; }

MHD_Result on_access(void* cls, MHD_Connection* connection, const char* url, const char* method, const char*,
                     const char* upload_data, size_t* upload_data_size, void** con_cls) {
    auto* self = static_cast<http_server*>(cls);
    auto*& state = reinterpret_cast<http_server::request_state*&>(*con_cls);
    try {
        return self->handle(connection, url, method, upload_data, upload_data_size, state) ? MHD_YES : MHD_NO;
    } catch (const std::exception& e) {
        log::error() << "request " << method << " " << url << ": " << e.what();
        return MHD_NO;
    }
}

void on_completed(void* cls, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode how) {
    auto* self = static_cast<http_server*>(cls);
    try {
        self->completed(static_cast<http_server::request_state*>(*con_cls), static_cast<int>(how));
    } catch (const std::exception& e) {
        log::error() << "request cleanup: " << e.what();
    }
    *con_cls = nullptr;
}

} // namespace

http_server::http_server(service& svc) : svc_(svc) {
    const listen_address where = parse_listen_address(svc.config.listen);
    bool ipv6 = false;
    sockaddr_storage addr = socket_address(where, ipv6);
    // A thread per connection: an upload's thread writes to disk, then waits for its own checks.
    const unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                           (ipv6 ? static_cast<unsigned>(MHD_USE_IPv6) : 0u);
    daemon_ = MHD_start_daemon(
        flags, static_cast<std::uint16_t>(where.port), nullptr, nullptr, &on_access, this, MHD_OPTION_SOCK_ADDR,
        reinterpret_cast<sockaddr*>(&addr), MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(svc.config.max_connections),
        MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(svc.config.connection_timeout_s),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, connection_memory, MHD_OPTION_NOTIFY_COMPLETED, &on_completed, this,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!daemon_)
        throw std::runtime_error("cannot listen on " + svc.config.listen + " (in use, or not an address of this host)");
    const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    port_ = info ? info->port : where.port;
}

http_server::~http_server() {
    if (daemon_) MHD_stop_daemon(daemon_);
}

std::string http_server::allowed_origin(const std::string& origin) const {
    for (const auto& o : svc_.config.cors_origins) {
        if (o == "*") return "*";
        if (!origin.empty() && o == origin) return origin;
    }
    return "";
}

int http_server::handle(MHD_Connection* connection, const char* url, const char* method, const char* upload_data,
                        std::size_t* upload_data_size, request_state*& state) {
    if (!state) {
        state = new request_state;
        state->origin = header(connection, "Origin");
        const std::string_view m = method;
        const std::string_view path = url;
        route r;
        for (const auto& [prefix, kind] :
             {std::pair<std::string_view, route::kind>{"/upload/", route::upload}, {"/media/", route::media}}) {
            if (path.substr(0, prefix.size()) != prefix) continue;
            std::string_view rest = path.substr(prefix.size());
            route::kind k = kind;
            if (k == route::media && rest.size() == 32 + 6 && rest.substr(32) == "/thumb") {
                k = route::thumb;
                rest = rest.substr(0, 32);
            }
            if (media_url::valid_media_id(rest)) {
                r.what = k;
                r.id = std::string(rest);
            }
        }
        const char* allow = r.what == route::upload ? "PUT, POST, OPTIONS" : "GET, HEAD, OPTIONS";
        if (r.what == route::none) {
            state->answered = true;
            return send(connection, error_reply(404, "not_found", "no such resource"), state->origin);
        }
        if (m == "OPTIONS") {
            reply pre;
            pre.status = 204;
            pre.headers = {{"Access-Control-Allow-Methods", allow},
                           {"Access-Control-Allow-Headers", "Content-Type, Range, If-None-Match"},
                           {"Access-Control-Max-Age", "600"},
                           {"Allow", allow}};
            state->answered = true;
            return send(connection, std::move(pre), state->origin);
        }
        if (r.what == route::upload && (m == "PUT" || m == "POST")) {
            std::optional<std::uint64_t> length;
            if (const auto cl = optional_header(connection, "Content-Length")) {
                std::uint64_t n = 0;
                const auto [end, ec] = std::from_chars(cl->data(), cl->data() + cl->size(), n);
                if (ec == std::errc() && end == cl->data() + cl->size()) length = n;
            }
            reply early;
            state->upload = upload_session::begin(svc_, r.id, query(connection, "exp"), query(connection, "sig"),
                                                  length, early);
            if (!state->upload) {
                state->answered = true;
                return send(connection, std::move(early), state->origin);
            }
            return 1; // the body comes in the next calls (after "100 Continue" when the client asks for it)
        }
        if (r.what != route::upload && (m == "GET" || m == "HEAD")) {
            download_request d;
            d.id = r.id;
            d.thumb = r.what == route::thumb;
            d.head = m == "HEAD";
            d.exp = query(connection, "exp");
            d.sig = query(connection, "sig");
            d.range = optional_header(connection, "Range");
            d.if_none_match = optional_header(connection, "If-None-Match");
            state->answered = true;
            return send(connection, download(svc_, d), state->origin);
        }
        reply wrong = error_reply(405, "method_not_allowed", std::string("allowed: ") + allow);
        wrong.headers.emplace_back("Allow", allow);
        state->answered = true;
        return send(connection, std::move(wrong), state->origin);
    }
    if (state->answered) { // a body after the answer: not read
        *upload_data_size = 0;
        return 1;
    }
    if (!state->upload) return 0;
    if (*upload_data_size > 0) {
        const bool taken = state->upload->write(upload_data, *upload_data_size);
        *upload_data_size = 0;
        if (taken) return 1;
        state->answered = true;
        // Refused midway (too large): answer now and close, the rest of the body unread.
        return send(connection, std::move(state->upload->refused()), state->origin);
    }
    state->answered = true;
    return send(connection, state->upload->finish(), state->origin);
}

void http_server::completed(request_state* state, int) {
    if (!state) return;
    // An upload not answered: the body did not arrive whole (its session marks it truncated).
    delete state;
}

int http_server::send(MHD_Connection* connection, reply r, const std::string& origin) {
    MHD_Response* response = nullptr;
    if (!r.streamed) {
        response = MHD_create_response_from_buffer(r.body.size(), r.body.data(), MHD_RESPMEM_MUST_COPY);
    } else if (r.blob && r.blob->fd() >= 0) {
        const int fd = ::dup(r.blob->fd()); // MHD closes its copy
        if (fd >= 0)
            response = MHD_create_response_from_fd_at_offset64(r.blob_size, fd, r.blob->offset());
    } else if (r.blob) {
        blob_reader* blob = r.blob.release();
        response = MHD_create_response_from_callback(r.blob_size, 64 * 1024, &read_blob, blob, &free_blob);
        if (!response) delete blob;
    } else {
        response = MHD_create_response_from_callback(r.blob_size, 1024, &no_body, nullptr, nullptr);
    }
    if (!response) return 0;
    if (r.streamed && r.status < 300) svc_.metrics.sent_bytes.inc(r.blob ? r.blob_size : 0);
    for (const auto& [name, value] : r.headers) MHD_add_response_header(response, name.c_str(), value.c_str());
    if (const std::string allowed = allowed_origin(origin); !allowed.empty()) {
        MHD_add_response_header(response, "Access-Control-Allow-Origin", allowed.c_str());
        if (allowed != "*") MHD_add_response_header(response, "Vary", "Origin");
        MHD_add_response_header(response, "Access-Control-Expose-Headers",
                                "Content-Length, Content-Range, Content-Disposition, ETag");
    }
    const MHD_Result queued = MHD_queue_response(connection, static_cast<unsigned>(r.status), response);
    MHD_destroy_response(response);
    return queued == MHD_YES ? 1 : 0;
}

} // namespace mqchat::media
