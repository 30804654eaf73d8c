#include "environment.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace mqchat::test {

std::string random_text(std::size_t n) {
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::random_device rd;
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += alphabet[rd() % 62];
    return out;
}

namespace {

/// 127.0.0.1:port (0: any port), for bind and connect.
sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    return a;
}

} // namespace

bool bindable(int port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in a = loopback(port);
    const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    return ok;
}

namespace {

int kernel_chosen_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(0);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        if (fd >= 0) close(fd);
        throw std::runtime_error("cannot bind a free port");
    }
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
}

} // namespace

// A port the kernel picks with bind(0) comes from its ephemeral range, and
// between here and the server's own bind (seconds, while a cluster is
// made) any outgoing connection on the machine may take it as its local
// end: in CI a gateway found its port taken. So ports come from above that
// range (61000-65535 with Linux's default), in turn, from a counter that
// every test process on the machine shares (a file under flock), so suites
// running at once never get the same one; each is checked bindable.
int free_port() {
    int lo = 32768, hi = 60999;
    std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> lo >> hi;
    const int first = hi + 1, count = 65535 - hi;
    if (count < 1000) return kernel_chosen_port(); // no room above it: as before
    const int fd = open("/tmp/mqchat-test-ports", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return kernel_chosen_port();
    flock(fd, LOCK_EX);
    char text[32] = {};
    const ssize_t got = pread(fd, text, sizeof text - 1, 0);
    long next = got > 0 ? std::strtol(text, nullptr, 10) : 0;
    int port = 0;
    for (int tries = 0; tries < count && port == 0; ++tries) {
        const int candidate = first + static_cast<int>(next++ % count);
        if (bindable(candidate)) port = candidate;
    }
    const std::string written = std::to_string(next % count);
    const bool saved = ftruncate(fd, 0) == 0 && pwrite(fd, written.data(), written.size(), 0) > 0;
    (void)saved; // unsaved (a full /tmp), the next caller checks the same ports again: as good as bind(0)
    flock(fd, LOCK_UN);
    close(fd);
    return port ? port : kernel_chosen_port();
}

int connect_loopback(int port, const std::string& from) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    sockaddr_in local = loopback(0), a = loopback(port);
    if ((!from.empty() && (inet_pton(AF_INET, from.c_str(), &local.sin_addr) != 1 ||
                           bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)) ||
        connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

silent_port::silent_port(int port) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    const int on = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in a = loopback(port);
    if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listener_, 0) != 0) {
        if (listener_ >= 0) close(listener_);
        throw std::runtime_error("cannot hold port " + std::to_string(port) + " silent");
    }
    // The first completes its handshake and fills the backlog; those after
    // it (and everyone else's) stay unanswered.
    for (int& fd : fillers_) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fd >= 0) connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
}

silent_port::~silent_port() {
    for (const int fd : fillers_)
        if (fd >= 0) close(fd);
    close(listener_);
}

bool port_open(int port) {
    const int fd = connect_loopback(port);
    if (fd < 0) return false;
    close(fd);
    return true;
}

bool wait_port(int port, int timeout_ms) {
    return eventually([port] { return port_open(port); }, std::chrono::milliseconds(timeout_ms),
                      std::chrono::milliseconds(20));
}

temp_dir::temp_dir(const std::string& tag) {
    std::string pattern = "/tmp/mqchat-" + tag + "-XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
    std::filesystem::permissions(path_, std::filesystem::perms::all);
}

temp_dir::~temp_dir() {
    if (std::getenv("MQCHAT_KEEP_TEST_DIRS")) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
}

void write_secret_file(const std::string& path, const std::string& text) {
    write_file(path, text);
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

std::string bin_dir() { return MQCHAT_TEST_BIN_DIR; }
std::string source_dir() { return MQCHAT_TEST_SOURCE_DIR; }
std::string plugin_path() { return MQCHAT_TEST_PLUGIN; }

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds within,
                std::chrono::milliseconds every) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
        if (condition()) return true;
        std::this_thread::sleep_for(every);
    }
    return condition();
}

} // namespace mqchat::test
