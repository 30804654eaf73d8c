#include "worker_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <thread>
#include <variant>

#include "worker_host.hpp"
#include "worker_wire.hpp"

namespace mqchat::plugin {

namespace {
/// Read from the news pipe per receive(): a snapshot of the directory
/// arrives over several callbacks rather than holding one up.
constexpr std::size_t max_read_per_receive = 8 * 1024 * 1024;
/// The news pipe's size: a snapshot of the directory (about 200 bytes a
/// user) arrives in as few pieces as an unprivileged process may ask for.
constexpr int news_pipe_bytes = 1024 * 1024;
/// Requests waiting for the worker process to read them; beyond this it is
/// not reading, and nothing more is asked of it.
constexpr std::size_t max_outbox = 16 * 1024 * 1024;
constexpr auto stop_grace = std::chrono::seconds(3);
/// A worker process that ends before it has loaded the directory once is
/// likely to end again (it cannot start threads, say): the pause before the
/// next start doubles up to a minute, so the log gets a line a minute, not
/// one a second. One that had worked is replaced after a second.
constexpr auto first_restart_pause = std::chrono::seconds(1);
constexpr auto longest_restart_pause = std::chrono::seconds(60);

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }
} // namespace

worker_process::worker_process(worker_settings settings) : settings_(std::move(settings)) {
    void* page = mmap(nullptr, sizeof(worker_status), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) throw std::runtime_error(std::string("cannot map the workers' status page: ") +
                                                     std::strerror(errno));
    status_ = new (page) worker_status;
}

worker_process::~worker_process() {
    stop();
    status_->~worker_status();
    munmap(status_, sizeof(worker_status));
}

void worker_process::start() {
    if (running()) return;
    // Requests go down a socket, so that writing to a worker process that
    // died is an error (MSG_NOSIGNAL), never a SIGPIPE in the broker; news
    // comes up a pipe, which can be made large.
    int requests[2], news[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, requests) != 0)
        throw std::runtime_error(std::string("cannot make the workers' socket: ") + std::strerror(errno));
    if (pipe2(news, O_CLOEXEC) != 0) {
        const int e = errno;
        close(requests[0]);
        close(requests[1]);
        throw std::runtime_error(std::string("cannot make the workers' pipe: ") + std::strerror(e));
    }
    fcntl(news[1], F_SETPIPE_SZ, news_pipe_bytes); // best effort: the default 64 KiB works, in more pieces
    status_->news = false;
    status_->directory_healthy = false;
    status_->lookup_busy_since_ns = 0;
    status_->password_checks = 0;
    const pid_t broker = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
        const int e = errno;
        for (const int fd : {requests[0], requests[1], news[0], news[1]}) close(fd);
        throw std::runtime_error(std::string("cannot start the worker process: ") + std::strerror(e));
    }
    if (pid == 0) {
        close(requests[0]);
        close(news[0]);
        run_worker_process(settings_, *status_, requests[1], news[1], broker);
    }
    close(requests[1]);
    close(news[1]);
    set_nonblocking(requests[0]);
    set_nonblocking(news[0]);
    pid_ = pid;
    requests_fd_ = requests[0];
    news_fd_ = news[0];
    inbox_.clear();
    first_load_ = false;
}

// Runs when the plugin is cleaned up (the broker is shutting down) and from
// the destructor: the short sleeps below are the only waits on the broker's
// thread, bounded by stop_grace, and only at the end. A restart from TICK
// finds no running process and waits for none.
void worker_process::stop() {
    for (const pid_t p : unreaped_) waitpid(p, nullptr, 0); // killed already: quick
    unreaped_.clear();
    if (!running()) return;
    // Closing our end is the request to stop: the worker process closes its
    // database connections and ends.
    close(requests_fd_);
    requests_fd_ = -1;
    const auto until = clock::now() + stop_grace;
    while (waitpid(pid_, nullptr, WNOHANG) == 0) {
        if (clock::now() >= until) { // stuck, e.g. in a query on a frozen server
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
    close(news_fd_);
    news_fd_ = -1;
    sodium_memzero(outbox_.data(), outbox_.size());
    outbox_.clear();
}

void worker_process::keep_alive() {
    // TICK comes on every pass of the broker's loop: a look at the clock on
    // one in 16 (at least every 1.6 s when idle), at the process once a second.
    if (++ticks_ % 16 != 0) return;
    const auto now = clock::now();
    if (now < next_liveness_check_) return;
    next_liveness_check_ = now + std::chrono::seconds(1);
    std::erase_if(unreaped_, [](pid_t p) { return waitpid(p, nullptr, WNOHANG) != 0; });
    if (running()) {
        // ECHILD: someone else reaped it (SIGCHLD ignored): it is gone all the same.
        const pid_t r = waitpid(pid_, nullptr, WNOHANG);
        if (r == pid_ || (r < 0 && errno == ECHILD)) {
            pid_ = -1;
            lost("ended");
        }
        return;
    }
    if (now < restart_after_) return;
    restart_after_ = now + restart_pause_;
    try {
        start();
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "mqchat: worker process started again; loading the directory afresh");
    } catch (const std::exception& e) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "mqchat: %s; trying again later", e.what());
    }
}

void worker_process::lost(const char* why) {
    mosquitto_log_printf(MOSQ_LOG_ERR,
                         "mqchat: the worker process %s; going on from memory (logins that need the database "
                         "or Argon2id are told to come back) until a new one has started",
                         why);
    restart_pause_ = first_load_ ? clock::duration(first_restart_pause)
                                 : std::min<clock::duration>(restart_pause_ * 2, longest_restart_pause);
    if (pid_ > 0) {
        // It may be alive but broken (a message that made no sense). Reaped
        // without waiting for it, here or by a later keep_alive().
        kill(pid_, SIGKILL);
        if (waitpid(pid_, nullptr, WNOHANG) == 0) unreaped_.push_back(pid_);
    }
    pid_ = -1;
    for (int* fd : {&requests_fd_, &news_fd_})
        if (*fd >= 0) {
            close(*fd);
            *fd = -1;
        }
    status_->news = false;
    status_->directory_healthy = false;
    status_->lookup_busy_since_ns = 0;
    status_->password_checks = 0;
    answered_through_ = next_ticket_ - 1; // nobody waits for what will not be answered
    checking_.clear();
    inbox_.clear();
    sodium_memzero(outbox_.data(), outbox_.size());
    outbox_.clear();
    restart_after_ = clock::now() + restart_pause_;
}

void worker_process::receive() {
    // Cleared before reading: whatever is written after this read sets it again.
    status_->news.store(false, std::memory_order_seq_cst);
    if (!running()) return;
    std::size_t got = 0;
    while (true) {
        const std::size_t old = inbox_.size();
        inbox_.resize(old + 64 * 1024);
        const ssize_t n = read(news_fd_, inbox_.data() + old, 64 * 1024);
        inbox_.resize(old + static_cast<std::size_t>(n > 0 ? n : 0));
        if (n > 0) {
            got += static_cast<std::size_t>(n);
            if (got < max_read_per_receive) continue;
            status_->news.store(true, std::memory_order_release); // the rest on the next callback
            break;
        }
        if (n == 0) return lost("ended");
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return lost("cannot be read from");
    }
    std::size_t used = 0;
    try {
        while (const std::size_t len = wire::complete_frame(std::string_view(inbox_).substr(used))) {
            std::visit([this](auto&& m) { handle(std::move(m)); },
                       wire::decode(std::string_view(inbox_).substr(used, len)));
            used += len;
        }
    } catch (const wire::malformed& e) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "mqchat: malformed message from the worker process: %s", e.what());
        return lost("sent a malformed message");
    }
    inbox_.erase(0, used);
    flush();
}

void worker_process::handle(directory_change&& m) {
    if (m.what == directory_change::kind::snapshot) first_load_ = true;
    changes_.push_back(std::move(m));
    unread_ = true;
}

void worker_process::handle(lookup_answer&& m) {
    answers_.push_back(std::move(m));
    unread_ = true;
}

void worker_process::handle(wire::lookup_progress&& m) {
    answered_through_ = std::max(answered_through_, m.answered_through);
}

void worker_process::handle(password_verdict&& m) {
    checking_.erase(m.digest);
    verdicts_.push_back(std::move(m));
    unread_ = true;
}

void worker_process::handle(wire::password_dropped&& m) { checking_.erase(m.digest); }

template <class Other>
void worker_process::handle(Other&&) {
    throw wire::malformed("the worker process sent what only the broker sends");
}

std::vector<directory_change> worker_process::take_changes() {
    std::vector<directory_change> out;
    out.swap(changes_);
    unread_ = !answers_.empty() || !verdicts_.empty();
    return out;
}

std::vector<lookup_answer> worker_process::take_answers() {
    std::vector<lookup_answer> out;
    out.swap(answers_);
    unread_ = !changes_.empty() || !verdicts_.empty();
    return out;
}

std::vector<password_verdict> worker_process::take_verdicts() {
    std::vector<password_verdict> out;
    out.swap(verdicts_);
    unread_ = !changes_.empty() || !answers_.empty();
    return out;
}

template <class Message>
bool worker_process::send(const Message& m) {
    if (!running() || outbox_.size() > max_outbox) return false;
    wire::put(outbox_, m);
    flush();
    return running();
}

void worker_process::flush() {
    while (running() && !outbox_.empty()) {
        const ssize_t n = ::send(requests_fd_, outbox_.data(), outbox_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sodium_memzero(outbox_.data(), static_cast<std::size_t>(n)); // password checks pass through here
            outbox_.erase(0, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return; // sent with the next receive()
        lost("stopped taking requests");
    }
}

template <class Done>
bool worker_process::wait_until(clock::time_point deadline, Done&& done) {
    receive();
    while (!done()) {
        if (!running()) return false;
        const auto now = clock::now();
        if (now >= deadline) return false;
        pollfd fds[2] = {{news_fd_, POLLIN, 0}, {requests_fd_, static_cast<short>(outbox_.empty() ? 0 : POLLOUT), 0}};
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
        poll(fds, 2, static_cast<int>(std::min<long long>(left, 1000)));
        receive();
    }
    return true;
}

bool worker_process::wait_first_load(std::chrono::milliseconds timeout) {
    return wait_until(clock::now() + timeout, [this] { return first_load_; });
}

bool worker_process::directory_healthy() const {
    return running() && status_->directory_healthy.load(std::memory_order_relaxed);
}

void worker_process::remember_login(const std::string& name, const std::string& digest) {
    send(wire::remember_login{name, digest});
}

std::uint64_t worker_process::ask_user(const std::string& name) {
    if (next_ticket_ - 1 - answered_through_ >= settings_.max_lookups) return 0;
    if (!send(wire::ask_user{name, next_ticket_})) return 0;
    return next_ticket_++;
}

std::uint64_t worker_process::ask_member(const std::string& name, std::int64_t conv) {
    if (next_ticket_ - 1 - answered_through_ >= settings_.max_lookups) return 0;
    if (!send(wire::ask_member{name, conv, next_ticket_})) return 0;
    return next_ticket_++;
}

bool worker_process::lookup_responsive(std::chrono::milliseconds patience) const {
    if (!running()) return false;
    const std::int64_t busy_since = status_->lookup_busy_since_ns.load(std::memory_order_acquire);
    return busy_since == 0 ||
           worker_status::now_ns() - busy_since < std::chrono::duration_cast<std::chrono::nanoseconds>(patience).count();
}

bool worker_process::wait_answered(std::uint64_t ticket, clock::time_point deadline) {
    return wait_until(deadline, [&] { return answered_through_ >= ticket; });
}

bool worker_process::submit_password(const std::string& user, const std::string& password,
                                     const std::string& stored_hash, const std::string& digest) {
    if (checking_.count(digest)) return true; // already on its way
    if (checking_.size() >= settings_.max_password_checks) return false;
    wire::check_password m{user, password, stored_hash, digest};
    const bool sent = send(m);
    sodium_memzero(m.password.data(), m.password.size());
    if (sent) checking_.insert(digest);
    return sent;
}

bool worker_process::passwords_quiet(std::chrono::milliseconds quiet_for) const {
    if (!checking_.empty() || status_->password_checks.load(std::memory_order_acquire) != 0) return false;
    const std::int64_t idle_since = status_->password_idle_since_ns.load(std::memory_order_acquire);
    return idle_since == 0 ||
           worker_status::now_ns() - idle_since >= std::chrono::duration_cast<std::chrono::nanoseconds>(quiet_for).count();
}

bool worker_process::wait_password(const std::string& digest, clock::time_point deadline) {
    return wait_until(deadline, [&] { return !checking_.count(digest); });
}

std::size_t worker_process::password_backlog() const {
    return std::max(checking_.size(),
                     static_cast<std::size_t>(status_->password_checks.load(std::memory_order_relaxed)));
}

} // namespace mqchat::plugin
