// clamd's INSTREAM command over a unix or TCP socket: "zINSTREAM\0", the
// file in chunks of <4-byte big-endian length><bytes>, a zero-length chunk,
// then one reply ("stream: OK", "stream: <signature> FOUND", "… ERROR")
// ending in '\0'. Every wait is bounded by one deadline (timeout_ms for the
// whole scan), so a frozen clamd costs a worker that long and no more.

#include "media/inspect/inspect.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace mqchat::media {
namespace {

using steady = std::chrono::steady_clock;

/// Why the scan could not finish: becomes verdict::unavailable.
struct unavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class socket_fd {
public:
    explicit socket_fd(int fd) : fd_(fd) {}
    ~socket_fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    socket_fd(const socket_fd&) = delete;
    socket_fd& operator=(const socket_fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

/// Waits for `events` on fd until the deadline; false when it passed.
bool wait_for(int fd, short events, steady::time_point deadline) {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
        if (left <= 0) return false;
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, static_cast<int>(left));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) throw unavailable(errno_text("poll"));
    }
}

/// Starts a non-blocking connect and waits for it within the deadline.
void connect_within(int fd, const sockaddr* addr, socklen_t length, steady::time_point deadline) {
    if (::connect(fd, addr, length) == 0) return;
    if (errno != EINPROGRESS && errno != EAGAIN) throw unavailable(errno_text("connect"));
    if (!wait_for(fd, POLLOUT, deadline)) throw unavailable("connect: timed out");
    int error = 0;
    socklen_t size = sizeof error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
    if (error != 0) throw unavailable(std::string("connect: ") + std::strerror(error));
}

int open_unix(const std::string& path, steady::time_point deadline) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) throw unavailable("unix socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw unavailable(errno_text("socket"));
    try {
        connect_within(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr, deadline);
    } catch (...) {
        ::close(fd);
        throw;
    }
    return fd;
}

/// "HOST:PORT", "[v6]:PORT". Name resolution is the one wait the deadline
/// does not bound (getaddrinfo has no timeout); give clamd an address.
int open_tcp(const std::string& host_port, steady::time_point deadline) {
    const auto colon = host_port.rfind(':');
    if (colon == std::string::npos) throw unavailable("clamd address needs tcp:HOST:PORT, got tcp:" + host_port);
    std::string host = host_port.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(host.c_str(), host_port.c_str() + colon + 1, &hints, &found); rc != 0)
        throw unavailable("resolving " + host + ": " + ::gai_strerror(rc));
    std::string last = "no address for " + host;
    for (addrinfo* a = found; a; a = a->ai_next) {
        const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        try {
            connect_within(fd, a->ai_addr, a->ai_addrlen, deadline);
            ::freeaddrinfo(found);
            return fd;
        } catch (const unavailable& e) {
            last = e.what();
            ::close(fd);
        }
    }
    ::freeaddrinfo(found);
    throw unavailable(last);
}

int open_clamd(const std::string& address, steady::time_point deadline) {
    if (address.rfind("unix:", 0) == 0) return open_unix(address.substr(5), deadline);
    if (address.rfind("tcp:", 0) == 0) return open_tcp(address.substr(4), deadline);
    throw unavailable("clamd address must start with unix: or tcp:, got " + address);
}

void send_all(int fd, const char* data, std::size_t size, steady::time_point deadline) {
    while (size > 0) {
        const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            size -= static_cast<std::size_t>(n);
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_for(fd, POLLOUT, deadline)) throw unavailable("sending to clamd: timed out");
        } else {
            throw unavailable(errno_text("sending to clamd"));
        }
    }
}

/// One reply, up to its '\0' (or the connection's end).
std::string read_reply(int fd, steady::time_point deadline) {
    std::string reply;
    char buffer[512];
    while (reply.find('\0') == std::string::npos && reply.size() < 4096) {
        if (!wait_for(fd, POLLIN, deadline)) throw unavailable("waiting for clamd's answer: timed out");
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            throw unavailable(errno_text("reading clamd's answer"));
        }
        reply.append(buffer, static_cast<std::size_t>(n));
    }
    reply = reply.substr(0, reply.find('\0'));
    while (!reply.empty() && (reply.back() == '\n' || reply.back() == '\r')) reply.pop_back();
    return reply;
}

void send_chunk(int fd, const char* data, std::size_t size, steady::time_point deadline) {
    const unsigned char length[4] = {static_cast<unsigned char>(size >> 24), static_cast<unsigned char>(size >> 16),
                                     static_cast<unsigned char>(size >> 8), static_cast<unsigned char>(size)};
    send_all(fd, reinterpret_cast<const char*>(length), 4, deadline);
    send_all(fd, data, size, deadline);
}

/// Streams the file. clamd answers early and hangs up when the stream is
/// over its StreamMaxLength: that answer, if any, says more than EPIPE.
std::string stream_file(int fd, const std::filesystem::path& file, steady::time_point deadline) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("clamd_scan: cannot read " + file.string());
    static constexpr char command[] = "zINSTREAM";
    try {
        send_all(fd, command, sizeof command, deadline); // with its '\0'
        std::string chunk(64 * 1024, '\0');
        while (in.read(chunk.data(), static_cast<std::streamsize>(chunk.size())) || in.gcount() > 0)
            send_chunk(fd, chunk.data(), static_cast<std::size_t>(in.gcount()), deadline);
        send_chunk(fd, nullptr, 0, deadline);
    } catch (const unavailable& e) {
        std::string early;
        try {
            early = read_reply(fd, std::min(deadline, steady::now() + std::chrono::milliseconds(200)));
        } catch (const unavailable&) {
        }
        throw unavailable(early.empty() ? e.what() : "clamd: " + early);
    }
    return read_reply(fd, deadline);
}

bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

scan_result verdict_of(const std::string& reply) {
    // "stream: OK", "stream: Eicar-Signature FOUND"; anything else (an
    // ERROR, nothing at all) means the file was not scanned.
    static constexpr std::string_view prefix = "stream: ";
    if (reply.rfind(prefix, 0) == 0 && ends_with(reply, " FOUND")) {
        const std::size_t begin = prefix.size();
        return {scan_result::verdict::infected, reply.substr(begin, reply.size() - begin - 6)};
    }
    if (reply == "stream: OK") return {scan_result::verdict::clean, {}};
    return {scan_result::verdict::unavailable, reply.empty() ? "clamd closed without an answer" : "clamd: " + reply};
}

} // namespace

scan_result clamd_scan(const std::filesystem::path& file, const clamd_settings& settings) {
    if (settings.address.empty()) return {scan_result::verdict::clean, "not scanned: no scanner configured"};
    const auto deadline = steady::now() + std::chrono::milliseconds(settings.timeout_ms);
    try {
        const socket_fd fd(open_clamd(settings.address, deadline));
        return verdict_of(stream_file(fd.get(), file, deadline));
    } catch (const unavailable& e) {
        return {scan_result::verdict::unavailable, e.what()};
    }
}

std::string_view scan_refusal(const scan_result& result, const clamd_settings& settings) {
    switch (result.outcome) {
    case scan_result::verdict::clean: return {};
    case scan_result::verdict::infected: return refusal::infected;
    case scan_result::verdict::unavailable: return settings.fail_closed ? refusal::scan_unavailable : std::string_view{};
    }
    return refusal::scan_unavailable;
}

} // namespace mqchat::media
