#include "local_storage.hpp"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace mqchat::media {

namespace fs = std::filesystem;

namespace {

std::string errno_text(const std::string& what, const fs::path& p) {
    return what + " " + p.string() + ": " + std::strerror(errno);
}

class fd_guard {
public:
    explicit fd_guard(int fd) : fd_(fd) {}
    ~fd_guard() {
        if (fd_ >= 0) ::close(fd_);
    }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    int get() const { return fd_; }
    int release() {
        const int f = fd_;
        fd_ = -1;
        return f;
    }

private:
    int fd_;
};

void fsync_dir(const fs::path& dir) {
    fd_guard d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d.get() >= 0) ::fsync(d.get());
}

std::string random_suffix() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < 12; ++i) s += digits[rng() % 16];
    return s;
}

class file_reader : public blob_reader {
public:
    file_reader(int fd, std::uint64_t offset, std::uint64_t length) : fd_(fd), offset_(offset), length_(length) {}
    std::size_t read(char* buffer, std::size_t n) override {
        if (done_ >= length_) return 0;
        if (n > length_ - done_) n = static_cast<std::size_t>(length_ - done_);
        const ssize_t got = ::pread(fd_.get(), buffer, n, static_cast<off_t>(offset_ + done_));
        if (got < 0) throw storage_error(std::string("cannot read a blob: ") + std::strerror(errno));
        done_ += static_cast<std::uint64_t>(got);
        return static_cast<std::size_t>(got);
    }
    int fd() const override { return fd_.get(); }
    std::uint64_t offset() const override { return offset_; }
    std::uint64_t length() const override { return length_; }

private:
    fd_guard fd_;
    std::uint64_t offset_, length_, done_ = 0;
};

} // namespace

bool valid_sha256(const std::string& key) {
    if (key.size() != 64) return false;
    for (char ch : key)
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
    return true;
}

local_storage::local_storage(fs::path dir) : blobs_(std::move(dir) / "blobs") {
    std::error_code ec;
    fs::create_directories(blobs_, ec);
    if (ec) throw storage_error("cannot create " + blobs_.string() + ": " + ec.message());
    // Temp files of puts a crash interrupted.
    for (const auto& sub : fs::directory_iterator(blobs_, ec)) {
        if (!sub.is_directory()) continue;
        for (const auto& f : fs::directory_iterator(sub.path(), ec))
            if (f.path().filename().string().rfind(".tmp-", 0) == 0) fs::remove(f.path(), ec);
    }
}

void local_storage::walk(const std::function<void(const std::string& sha256, std::int64_t written)>& each) {
    std::error_code ec;
    for (const auto& sub : fs::directory_iterator(blobs_, ec)) {
        if (!sub.is_directory()) continue;
        for (const auto& f : fs::directory_iterator(sub.path(), ec)) {
            const std::string name = f.path().filename().string();
            struct stat st {};
            if (!valid_sha256(name) || ::stat(f.path().c_str(), &st) != 0) continue; // temp files, strangers
            each(name, static_cast<std::int64_t>(st.st_mtime));
        }
    }
    if (ec) throw storage_error("cannot list " + blobs_.string() + ": " + ec.message());
}

fs::path local_storage::path_of(const std::string& sha256) const {
    if (!valid_sha256(sha256)) throw storage_error("not a blob key: '" + sha256 + "'");
    return blobs_ / sha256.substr(0, 2) / sha256;
}

void local_storage::put(const fs::path& file, const std::string& sha256) {
    const fs::path target = path_of(sha256);
    if (exists(sha256)) return;
    const fs::path dir = target.parent_path();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw storage_error("cannot create " + dir.string() + ": " + ec.message());
    fd_guard in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (in.get() < 0) throw storage_error(errno_text("cannot open", file));
    struct stat st {};
    if (::fstat(in.get(), &st) != 0) throw storage_error(errno_text("cannot stat", file));
    const fs::path temp = dir / (".tmp-" + random_suffix());
    fd_guard out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
    if (out.get() < 0) throw storage_error(errno_text("cannot create", temp));
    try {
        off_t offset = 0;
        while (offset < st.st_size) {
            const ssize_t sent = ::sendfile(out.get(), in.get(), &offset, static_cast<std::size_t>(st.st_size - offset));
            if (sent < 0 && errno == EINTR) continue;
            if (sent <= 0) throw storage_error(errno_text("cannot write", temp));
        }
        if (::fsync(out.get()) != 0) throw storage_error(errno_text("cannot fsync", temp));
        if (::rename(temp.c_str(), target.c_str()) != 0) throw storage_error(errno_text("cannot rename", temp));
    } catch (...) {
        ::unlink(temp.c_str());
        throw;
    }
    fsync_dir(dir);
}

std::unique_ptr<blob_reader> local_storage::open(const std::string& sha256, std::uint64_t offset,
                                                 std::uint64_t length) {
    const fs::path p = path_of(sha256);
    fd_guard fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT) return nullptr;
        throw storage_error(errno_text("cannot open", p));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw storage_error(errno_text("cannot stat", p));
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (offset > size) offset = size;
    if (length == 0 || offset + length > size) length = size - offset;
    return std::make_unique<file_reader>(fd.release(), offset, length);
}

bool local_storage::exists(const std::string& sha256) {
    struct stat st {};
    return ::stat(path_of(sha256).c_str(), &st) == 0;
}

void local_storage::remove(const std::string& sha256) {
    const fs::path p = path_of(sha256);
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) throw storage_error(errno_text("cannot remove", p));
}

std::string local_storage::probe() {
    const fs::path p = blobs_ / (".tmp-probe-" + random_suffix());
    fd_guard fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
    if (fd.get() < 0) return errno_text("cannot create", p);
    const bool ok = ::write(fd.get(), "x", 1) == 1;
    ::unlink(p.c_str());
    return ok ? "" : errno_text("cannot write", p);
}

std::string local_storage::describe() const { return "disk " + blobs_.string(); }

} // namespace mqchat::media
