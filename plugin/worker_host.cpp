#include "worker_host.hpp"

#include <dirent.h>
#include <signal.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <variant>

#include "worker_wire.hpp"

namespace mqchat::plugin {

namespace {

/// The news goes out in pieces no larger than the pipe holds, and the
/// broker is told after each piece: a write that waits for room never waits
/// for a reader that was not told there is something to read. (Requests are
/// read in pieces of the same size.)
constexpr std::size_t piece = 64 * 1024;

class worker_host {
public:
    worker_host(const worker_settings& settings, worker_status& status, int news_fd)
        : status_(status), news_fd_(news_fd), sync_(settings.conninfo, status, [this] { announce(); }),
          lookup_(std::make_shared<directory_lookup>(settings.conninfo, status, [this] { announce(); })),
          passwords_(settings.password_threads, settings.max_password_checks, status, [this] { announce(); }) {
        writer_ = std::thread([this] { write_news(); });
        sync_.start();
        lookup_->start();
    }

    /// Takes the broker's requests until it closes its end.
    void serve(int requests_fd) {
        std::string in;
        while (true) {
            const std::size_t old = in.size();
            in.resize(old + piece);
            const ssize_t n = read(requests_fd, in.data() + old, piece);
            in.resize(old + static_cast<std::size_t>(n > 0 ? n : 0));
            if (n == 0) return; // the broker is stopping (or gone)
            if (n < 0) {
                if (errno == EINTR) continue;
                return;
            }
            std::size_t used = 0;
            while (const std::size_t len = wire::complete_frame(std::string_view(in).substr(used))) {
                std::visit([this](auto&& m) { handle(std::move(m)); },
                           wire::decode(std::string_view(in).substr(used, len)));
                used += len;
            }
            sodium_memzero(in.data(), used); // password checks pass through here
            in.erase(0, used);
        }
    }

    /// Closes the database connections properly; the password threads and
    /// the writer end with the process.
    void stop() {
        sync_.stop();
        lookup_->stop();
    }

private:
    void handle(wire::ask_user&& m) { lookup_->ask_user(m.name, m.ticket); }
    void handle(wire::ask_member&& m) { lookup_->ask_member(m.name, m.conv, m.ticket); }
    void handle(wire::check_password&& m) {
        const std::string digest = m.digest;
        if (!passwords_.submit(std::move(m.user), std::move(m.password), std::move(m.stored_hash), std::move(m.digest))) {
            {
                std::lock_guard lock(mutex_);
                dropped_.push_back(digest);
            }
            announce();
        }
    }
    void handle(wire::remember_login&& m) { sync_.remember_login(std::move(m.name), std::move(m.digest)); }
    template <class News>
    void handle(News&&) {
        throw wire::malformed("the broker sent what only the worker process sends");
    }

    void announce() {
        {
            std::lock_guard lock(mutex_);
            news_ = true;
        }
        news_cv_.notify_one();
    }

    /// The writer thread: whenever a worker has announced something, sends
    /// everything there is, in one write where it can.
    void write_news() noexcept {
        try {
            write_news_until_gone();
        } catch (...) {
        }
        _exit(1); // the broker notices and starts another worker process
    }

    void write_news_until_gone() {
        std::uint64_t sent_through = 0;
        std::unique_lock lock(mutex_);
        while (true) {
            news_cv_.wait(lock, [this] { return news_; });
            news_ = false;
            std::vector<std::string> dropped;
            dropped.swap(dropped_);
            lock.unlock();

            std::string out;
            for (const auto& c : sync_.take()) wire::put(out, c);
            // Read how far the lookups are answered before taking the
            // answers: every answer up to there is then in this batch, and
            // goes out before the progress that announces it.
            const std::uint64_t through = lookup_->answered_through();
            for (const auto& a : lookup_->take()) wire::put(out, a);
            if (through != sent_through) {
                wire::put(out, wire::lookup_progress{through});
                sent_through = through;
            }
            for (const auto& v : passwords_.take()) wire::put(out, v);
            for (auto& d : dropped) wire::put(out, wire::password_dropped{std::move(d)});
            if (!send(out)) return; // the broker is gone

            lock.lock();
        }
    }

    bool send(const std::string& out) {
        for (std::size_t at = 0; at < out.size();) {
            const ssize_t n = write(news_fd_, out.data() + at, std::min(piece, out.size() - at));
            if (n < 0) {
                if (errno == EINTR) continue;
                return false;
            }
            at += static_cast<std::size_t>(n);
            status_.news.store(true, std::memory_order_release);
        }
        return true;
    }

    worker_status& status_;
    const int news_fd_;
    std::mutex mutex_;
    std::condition_variable news_cv_;
    bool news_ = false;
    std::vector<std::string> dropped_; ///< digests of checks the password threads could not take
    directory_sync sync_;
    std::shared_ptr<directory_lookup> lookup_;
    password_checker passwords_;
    std::thread writer_;
};

/// Closes every descriptor the broker had when it forked (its log, and on a
/// restart its listeners and clients' sockets) but stdio and `keep`.
void close_inherited(int keep_a, int keep_b) {
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return;
    std::vector<int> fds;
    while (const dirent* e = readdir(dir)) {
        const int fd = std::atoi(e->d_name);
        if (fd > 2 && fd != keep_a && fd != keep_b && fd != dirfd(dir)) fds.push_back(fd);
    }
    closedir(dir);
    for (const int fd : fds) close(fd);
}

} // namespace

void run_worker_process(const worker_settings& settings, worker_status& status, int requests_fd, int news_fd,
                        pid_t broker) {
    // Die with the broker, even if it is killed; and if it already died
    // between fork() and here, go at once.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != broker) _exit(0);
    prctl(PR_SET_NAME, "mqchat-workers"); // what ps and top show for this process
    // The broker's signals are the broker's: a Ctrl-C or SIGTERM to the
    // process group stops the broker, which then closes our pipe.
    for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE}) signal(sig, SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    close_inherited(requests_fd, news_fd);
    try {
        // Never destroyed: the process ends right after stop().
        auto* host = new worker_host(settings, status, news_fd);
        host->serve(requests_fd);
        host->stop();
    } catch (...) {
        _exit(1);
    }
    _exit(0);
}

} // namespace mqchat::plugin
