#include "process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace mqchat::test {

namespace {

[[noreturn]] void exec_child(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                             const std::string& as_user) {
    setpgid(0, 0);
    if (!as_user.empty() && geteuid() == 0) {
        const passwd* pw = getpwnam(as_user.c_str());
        if (!pw || initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
            std::fprintf(stderr, "cannot switch to user %s\n", as_user.c_str());
            _exit(127);
        }
    }
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
}

} // namespace

child_process::child_process(std::vector<std::string> argv, std::string log_path, std::vector<std::string> env,
                             std::string as_user) {
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot open log " + log_path);
    if (!as_user.empty() && geteuid() == 0) {
        const passwd* pw = getpwnam(as_user.c_str());
        if (pw && fchown(fd, pw->pw_uid, pw->pw_gid) != 0) { /* the log stays root's; harmless */ }
    }
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        const int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        exec_child(argv, env, as_user);
    }
    close(fd);
}

child_process::~child_process() {
    if (pid_ > 0) stop(SIGKILL, std::chrono::seconds(5));
}

child_process::child_process(child_process&& other) noexcept : pid_(other.pid_) { other.pid_ = -1; }

child_process& child_process::operator=(child_process&& other) noexcept {
    if (this != &other) {
        if (pid_ > 0) stop(SIGKILL, std::chrono::seconds(5));
        pid_ = other.pid_;
        other.pid_ = -1;
    }
    return *this;
}

bool child_process::running() {
    if (pid_ <= 0) return false;
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        pid_ = -1;
        return false;
    }
    return true;
}

std::string child_process::wait_for_file(const std::string& path, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::ifstream in(path);
        std::stringstream content;
        content << in.rdbuf();
        if (!content.str().empty()) return content.str();
        if (!running() || std::chrono::steady_clock::now() > until) return "";
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

int child_process::wait_exit(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (pid_ > 0) {
        int status = 0;
        const pid_t r = waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (std::chrono::steady_clock::now() > until) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
}

int child_process::stop(int sig, std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return -1;
    kill(pid_, sig);
    const int rc = wait_exit(timeout);
    if (pid_ > 0) {
        kill(-pid_, SIGKILL); // the whole process group
        kill(pid_, SIGKILL);
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        return 128 + SIGKILL;
    }
    return rc;
}

bool process_info(pid_t pid, std::string& comm, pid_t& parent) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) return false;
    const auto open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) return false;
    comm = line.substr(open + 1, close - open - 1);
    std::istringstream rest(line.substr(close + 2));
    std::string state;
    rest >> state >> parent;
    return state != "Z"; // a zombie is gone for our purposes
}

bool alive(pid_t pid) {
    std::string comm;
    pid_t parent = 0;
    return process_info(pid, comm, parent);
}

pid_t worker_of(pid_t broker) {
    pid_t found = -1;
    DIR* d = opendir("/proc");
    if (!d) return found;
    while (const dirent* e = readdir(d)) {
        const pid_t p = static_cast<pid_t>(std::atoi(e->d_name));
        std::string comm;
        pid_t parent = 0;
        if (p > 0 && process_info(p, comm, parent) && parent == broker && comm == "mqchat-workers") found = p;
    }
    closedir(d);
    return found;
}

int run_command(const std::vector<std::string>& argv, std::string& output, const std::vector<std::string>& env,
                const std::string& as_user) {
    // Close-on-exec: a command started meanwhile by another thread must not
    // hold this one's pipe open (its output would end only when both had).
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        close(pipefd[1]);
        exec_child(argv, env, as_user);
    }
    close(pipefd[1]);
    output.clear();
    char buf[4096];
    ssize_t n;
    while ((n = read(pipefd[0], buf, sizeof buf)) > 0) output.append(buf, static_cast<std::size_t>(n));
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool server_user(std::string& name) {
    if (geteuid() != 0) {
        name.clear();
        return true;
    }
    name = "postgres";
    return getpwnam("postgres") != nullptr;
}

} // namespace mqchat::test
