#include "server.hpp"

#include <array>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <type_traits>

#include "common/forwarded.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "http_files.hpp"
#include "mqtt_connect.hpp"

namespace mqchat::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

/// The gateway's figures for /metrics.
struct gateway_metrics {
    metrics::gauge& open = metrics::default_registry().single_gauge(
        "mqchat_gateway_connections", "Client connections open now (WebSocket and HTTP).");
    metrics::counter& websockets = metrics::default_registry().single_counter(
        "mqchat_gateway_websockets_total", "WebSocket clients carried to the broker.");
    metrics::family<metrics::counter>& refused = metrics::default_registry().counters(
        "mqchat_gateway_refused_total",
        "Clients turned away: capacity, broker_unavailable, not_mqtt (a first packet that is no CONNECT), "
        "no_connect (no CONNECT within handshake_timeout_s), too_big.",
        {"reason"}, 8);
    metrics::family<metrics::counter>& files = metrics::default_registry().counters(
        "mqchat_gateway_http_responses_total", "HTTP answers (files and errors) by status.", {"status"}, 16);
    metrics::counter& logins_refused = metrics::default_registry().single_counter(
        "mqchat_gateway_logins_refused_total", "CONNECTs the broker answered with a refusal.");
};

/// A warning that may come thousands of times a second (the broker down, the
/// gateway full): one line, then at most one every ten seconds with the
/// number of times it happened meanwhile.
class throttled_warning {
public:
    void note(const std::string& what) {
        const auto now = std::chrono::steady_clock::now();
        ++count_;
        if (now - last_ < std::chrono::seconds(10)) return;
        log::warning() << what << (count_ > 1 ? " (" + std::to_string(count_) + " times since the last such line)" : "");
        last_ = now;
        count_ = 0;
    }

private:
    std::chrono::steady_clock::time_point last_{};
    long count_ = 0;
};

std::string_view to_std(beast::string_view s) { return {s.data(), s.size()}; }

std::string peer_address(const tcp::socket& socket) {
    error_code ec;
    auto address = socket.remote_endpoint(ec).address();
    if (ec) return "?";
    if (address.is_v6() && address.to_v6().is_v4_mapped())
        address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    return address.to_string();
}

/// The subprotocol to answer with: MQTT's own name when the client offers it.
std::string chosen_subprotocol(std::string_view offered) {
    std::string_view fallback;
    while (!offered.empty()) {
        const auto comma = offered.find(',');
        std::string_view item = offered.substr(0, comma);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (item == "mqtt") return "mqtt";
        if (item == "mqttv3.1") fallback = item;
        offered = comma == std::string_view::npos ? std::string_view{} : offered.substr(comma + 1);
    }
    return std::string(fallback);
}

} // namespace

struct server::impl {
    const gateway_config& config;
    asio::io_context io{1};
    std::optional<asio::ssl::context> tls_context;
    tcp::endpoint upstream;
    std::optional<tcp::acceptor> plain, tls;
    gateway_metrics counted;
    throttled_warning full, unreachable;
    int open = 0;

    explicit impl(const gateway_config& c) : config(c) {
        upstream = tcp::endpoint(asio::ip::make_address(c.upstream.host), static_cast<unsigned short>(c.upstream.port));
        if (!c.listen_tls.empty()) {
            tls_context.emplace(asio::ssl::context::tls_server);
            tls_context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                                     asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
            error_code ec;
            tls_context->use_certificate_chain_file(c.certfile, ec);
            if (ec) throw std::runtime_error("certfile " + c.certfile + ": " + ec.message());
            tls_context->use_private_key_file(c.keyfile, asio::ssl::context::pem, ec);
            if (ec) throw std::runtime_error("keyfile " + c.keyfile + ": " + ec.message());
        }
        if (!c.listen.empty()) plain.emplace(bind("listen", c.plain));
        if (!c.listen_tls.empty()) tls.emplace(bind("listen_tls", c.tls));
    }

    tcp::acceptor bind(const char* option, const listen_address& where) {
        error_code ec;
        const tcp::endpoint at(asio::ip::make_address(where.host, ec), static_cast<unsigned short>(where.port));
        tcp::acceptor a(io);
        if (!ec) a.open(at.protocol(), ec);
        if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) a.bind(at, ec);
        if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
        if (ec)
            throw std::runtime_error(std::string(option) + " " + where.host + ":" + std::to_string(where.port) + ": " +
                                     ec.message());
        return a;
    }

    template <bool Tls>
    void accept(tcp::acceptor& acceptor);
};

namespace {

/// One client: its HTTP requests (files), or its WebSocket carried to the
/// broker. `Tls` says whether the client's side is TLS.
template <bool Tls>
class session : public std::enable_shared_from_this<session<Tls>> {
public:
    using next_layer = std::conditional_t<Tls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

    template <class... Args>
    session(server::impl& s, std::string peer, tcp::socket socket, Args&... tls_context)
        : s_(s), peer_(std::move(peer)), ws_(std::move(socket), tls_context...), upstream_(s.io),
          connect_deadline_(s.io), from_broker_(16384) {
        ++s_.open;
        s_.counted.open.set(s_.open);
    }
    ~session() {
        --s_.open;
        s_.counted.open.set(s_.open);
    }

    void start() {
        beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(s_.config.handshake_timeout_s));
        if constexpr (Tls) {
            ws_.next_layer().async_handshake(asio::ssl::stream_base::server,
                                             [self = this->shared_from_this()](error_code ec) {
                                                 if (ec) return self->finish();
                                                 self->read_request();
                                             });
        } else {
            read_request();
        }
    }

private:
    // --- HTTP: files, and the upgrade request ---

    void read_request() {
        beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(s_.config.handshake_timeout_s));
        parser_.emplace();
        parser_->header_limit(16 * 1024);
        http::async_read(ws_.next_layer(), http_buffer_, *parser_,
                         [self = this->shared_from_this()](error_code ec, std::size_t) { self->on_request(ec); });
    }

    void on_request(error_code ec) {
        if (ec) {
            // A request with a body (empty_body refuses one) or a broken one gets a plain 400.
            if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
                ec != beast::error::timeout && ec != asio::error::eof && ec != asio::error::connection_reset)
                return respond(error_response(http::status::bad_request, "bad request\n", 11, false));
            return finish();
        }
        request_ = parser_->release();
        if (websocket::is_upgrade(request_)) return connect_upstream();
        const bool head = request_.method() == http::verb::head;
        if (!head && request_.method() != http::verb::get)
            return respond(error_response(http::status::method_not_allowed, "GET or HEAD only\n", request_.version(),
                                          request_.keep_alive()));
        file_answer answer = answer_file(s_.config.http_dir, to_std(request_.target()), head);
        answer.answer_to(request_.version(), request_.keep_alive());
        respond(std::move(answer));
    }

    static file_answer error_response(http::status status, std::string text, unsigned version, bool keep_alive) {
        file_answer a = text_answer(status, std::move(text));
        a.answer_to(version, keep_alive);
        return a;
    }

    void respond(file_answer answer) {
        s_.counted.files.with({std::to_string(answer.status())}).inc();
        answer_ = std::move(answer);
        const bool again = answer_->keep_alive();
        answer_->async_write(ws_.next_layer(), [self = this->shared_from_this(), again](error_code ec) {
            self->answer_.reset();
            if (ec || !again) return self->finish();
            self->read_request();
        });
    }

    // --- the WebSocket, carried to the broker ---

    void connect_upstream() {
        if (s_.open > s_.config.max_connections) {
            s_.counted.refused.with({"capacity"}).inc();
            s_.full.note("full: " + std::to_string(s_.config.max_connections) +
                         " connections open (max_connections); refusing WebSocket clients");
            return respond(error_response(http::status::service_unavailable, "too many connections\n",
                                          request_.version(), false));
        }
        upstream_.async_connect(s_.upstream, [self = this->shared_from_this()](error_code ec) {
            if (ec) {
                self->s_.counted.refused.with({"broker_unavailable"}).inc();
                self->s_.unreachable.note("cannot reach the broker at " + self->s_.config.broker + ": " + ec.message());
                return self->respond(error_response(http::status::service_unavailable, "broker unavailable\n",
                                                    self->request_.version(), false));
            }
            self->accept_websocket();
        });
    }

    void accept_websocket() {
        error_code ignored;
        upstream_.set_option(tcp::no_delay(true), ignored);
        beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ignored);
        beast::get_lowest_layer(ws_).expires_never(); // the WebSocket's own timeouts from here on
        websocket::stream_base::timeout t;
        t.handshake_timeout = std::chrono::seconds(s_.config.handshake_timeout_s);
        t.idle_timeout = websocket::stream_base::none(); // MQTT's keep alive is the broker's to enforce
        t.keep_alive_pings = false;
        ws_.set_option(t);
        const std::string protocol = chosen_subprotocol(to_std(request_[http::field::sec_websocket_protocol]));
        ws_.set_option(websocket::stream_base::decorator([protocol](websocket::response_type& res) {
            if (!protocol.empty()) res.set(http::field::sec_websocket_protocol, protocol);
        }));
        ws_.read_message_max(static_cast<std::size_t>(s_.config.max_message_bytes));
        ws_.binary(true);
        ws_.async_accept(request_, [self = this->shared_from_this()](error_code ec) {
            if (ec) return self->finish();
            self->s_.counted.websockets.inc();
            // A connection the broker holds for nothing: the CONNECT comes
            // within the handshake time, or the connection goes.
            self->connect_deadline_.expires_after(std::chrono::seconds(self->s_.config.handshake_timeout_s));
            self->connect_deadline_.async_wait([self](error_code timer_ec) {
                if (timer_ec || self->connect_seen_ || self->finished_) return;
                self->s_.counted.refused.with({"no_connect"}).inc();
                self->finish();
            });
            self->read_client();
            self->read_broker();
        });
    }

    void read_client() {
        ws_.async_read(from_client_, [self = this->shared_from_this()](error_code ec, std::size_t) {
            self->on_client(ec);
        });
    }

    void on_client(error_code ec) {
        if (ec) {
            if (ec == websocket::error::message_too_big) s_.counted.refused.with({"too_big"}).inc();
            return finish();
        }
        if (!connect_seen_) return on_first_bytes();
        asio::async_write(upstream_, from_client_.data(), [self = this->shared_from_this()](error_code write_ec, std::size_t n) {
            if (write_ec) return self->finish();
            self->from_client_.consume(n);
            self->read_client();
        });
    }

    /// Gathers the client's CONNECT (it may come in several WebSocket
    /// messages), notes who it is, puts a knock login's address in front of
    /// its password, and sends it on with whatever followed it.
    void on_first_bytes() {
        first_ += beast::buffers_to_string(from_client_.data());
        from_client_.consume(from_client_.size());
        bool complete = false;
        const auto length = connect_length(first_, complete);
        if (!length || *length > static_cast<std::size_t>(s_.config.max_message_bytes)) {
            s_.counted.refused.with({length ? "too_big" : "not_mqtt"}).inc();
            log::info() << "web client " << peer_ << ": first packet is not an MQTT CONNECT within "
                        << s_.config.max_message_bytes << " bytes; closed";
            return finish();
        }
        if (!complete) return read_client();
        const std::string rest = first_.substr(*length);
        first_.resize(*length);
        const auto connect = parse_connect(first_);
        if (!connect) {
            s_.counted.refused.with({"not_mqtt"}).inc();
            log::info() << "web client " << peer_ << ": malformed CONNECT; closed";
            return finish();
        }
        connect_seen_ = true;
        connect_deadline_.cancel();
        username_ = connect->has_username ? connect->username : "(no name)";
        if (s_.config.forward_visitor_address) {
            const std::string_view password = password_of(first_, *connect);
            // A knock login carries the visitor's address; so does any password
            // that already looks like it does, so a client cannot choose its own.
            if (connect->username.rfind("k-", 0) == 0 || password.substr(0, forwarded::marker.size()) == forwarded::marker) {
                auto rewritten = with_password(first_, *connect, forwarded::with_address(peer_, password));
                if (!rewritten) return finish();
                first_ = std::move(*rewritten);
            }
        }
        if (log::enabled(log::level::debug))
            log::debug() << "web client " << peer_ << " logs in as " << username_ << " (client id " << connect->client_id
                         << ")";
        first_ += rest;
        asio::async_write(upstream_, asio::buffer(first_), [self = this->shared_from_this()](error_code ec, std::size_t) {
            if (ec) return self->finish();
            self->first_.clear();
            self->first_.shrink_to_fit();
            self->read_client();
        });
    }

    void read_broker() {
        upstream_.async_read_some(asio::buffer(from_broker_), [self = this->shared_from_this()](error_code ec, std::size_t n) {
            self->on_broker(ec, n);
        });
    }

    void on_broker(error_code ec, std::size_t n) {
        if (ec) {
            // The broker ended it (a refused login, a DISCONNECT, a kick):
            // the client hears a WebSocket close after everything sent before.
            if (closing_) return;
            closing_ = true;
            return ws_.async_close(websocket::close_code::normal,
                                   [self = this->shared_from_this()](error_code) { self->finish(); });
        }
        if (!connack_seen_ && n >= 4 && static_cast<unsigned char>(from_broker_[0]) == 0x20) {
            connack_seen_ = true;
            if (from_broker_[3] != 0) {
                s_.counted.logins_refused.inc();
                log::info() << "login of " << username_ << " from " << peer_ << " refused by the broker (reason "
                            << static_cast<int>(static_cast<unsigned char>(from_broker_[3])) << ")";
            }
        }
        ws_.async_write(asio::buffer(from_broker_.data(), n), [self = this->shared_from_this()](error_code write_ec, std::size_t) {
            if (write_ec) return self->finish();
            self->read_broker();
        });
    }

    /// Both sides closed at once; idempotent. Pending operations end with
    /// errors and drop their references, which frees the session.
    void finish() {
        if (finished_) return;
        finished_ = true;
        connect_deadline_.cancel();
        error_code ignored;
        upstream_.shutdown(tcp::socket::shutdown_both, ignored);
        upstream_.close(ignored);
        beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
        beast::get_lowest_layer(ws_).close();
    }

    server::impl& s_;
    std::string peer_;
    websocket::stream<next_layer> ws_;
    tcp::socket upstream_;
    asio::steady_timer connect_deadline_;
    beast::flat_buffer http_buffer_, from_client_;
    std::optional<http::request_parser<http::empty_body>> parser_;
    http::request<http::empty_body> request_;
    std::optional<file_answer> answer_;
    std::vector<char> from_broker_;
    std::string first_, username_ = "(not logged in)";
    bool connect_seen_ = false, connack_seen_ = false, closing_ = false, finished_ = false;
};

} // namespace

template <bool Tls>
void server::impl::accept(tcp::acceptor& acceptor) {
    acceptor.async_accept([this, &acceptor](error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (ec) {
            // Out of descriptors, most likely: wait a little rather than spin.
            full.note("cannot accept a connection: " + ec.message());
            auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(100));
            timer->async_wait([this, &acceptor, timer](error_code) { accept<Tls>(acceptor); });
            return;
        }
        if (open >= config.max_connections + config.max_connections / 10 + 16) {
            // Far past the cap (the upgrade answers 503 just past it): no reading at all.
            counted.refused.with({"capacity"}).inc();
            full.note("full: " + std::to_string(open) + " connections open (max_connections " +
                      std::to_string(config.max_connections) + "); closing new ones");
        } else {
            std::string peer = peer_address(socket);
            if constexpr (Tls)
                std::make_shared<session<true>>(*this, std::move(peer), std::move(socket), *tls_context)->start();
            else
                std::make_shared<session<false>>(*this, std::move(peer), std::move(socket))->start();
        }
        accept<Tls>(acceptor);
    });
}

server::server(const gateway_config& config) : impl_(std::make_unique<impl>(config)) {}
server::~server() = default;

int server::plain_port() const { return impl_->plain ? impl_->plain->local_endpoint().port() : 0; }
int server::tls_port() const { return impl_->tls ? impl_->tls->local_endpoint().port() : 0; }

void server::run(const std::atomic<bool>& stopping) {
    if (impl_->plain) impl_->accept<false>(*impl_->plain);
    if (impl_->tls) impl_->accept<true>(*impl_->tls);
    // The stop flag is set by a signal handler: looked at five times a second.
    asio::steady_timer watch(impl_->io);
    std::function<void(error_code)> check = [&](error_code) {
        if (stopping.load()) return impl_->io.stop();
        watch.expires_after(std::chrono::milliseconds(200));
        watch.async_wait(check);
    };
    check({});
    impl_->io.run();
}

} // namespace mqchat::gateway
