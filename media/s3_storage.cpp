#include "s3_storage.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <future>
#include <thread>

namespace mqchat::media {

namespace {

using curl_ptr = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
using slist_ptr = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

/// SHA-256 of no bytes: the payload hash of GET, HEAD and DELETE.
constexpr const char* empty_payload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A curl handle with the request's SigV4 signing set up, and its header list.
struct signed_request {
    curl_ptr handle{nullptr, &curl_easy_cleanup};
    slist_ptr headers{nullptr, &curl_slist_free_all};
    CURL* get() const { return handle.get(); }
};

/// `payload_sha256`: the body's SHA-256 (hex), sent as x-amz-content-sha256
/// and signed: S3 requires the header and checks the body against it.
/// curl 7.88 signs a header the caller sets, and hashes nothing itself for
/// a body read from a file, so it is ours to give.
signed_request signed_handle(const s3_settings& s, const std::string& url, const std::string& payload_sha256,
                             const char* content_type = nullptr) {
    signed_request r;
    r.handle.reset(curl_easy_init());
    if (!r.handle) throw storage_error("cannot start a curl handle");
    CURL* h = r.get();
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    const std::string provider = "aws:amz:" + s.region + ":s3";
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, provider.c_str()); // copied by curl
    curl_easy_setopt(h, CURLOPT_USERNAME, s.access_key.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, s.secret_key.c_str());
    curl_slist* list = curl_slist_append(nullptr, ("x-amz-content-sha256: " + payload_sha256).c_str());
    if (content_type) list = curl_slist_append(list, (std::string("Content-Type: ") + content_type).c_str());
    r.headers.reset(list);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    return r;
}

/// Where a response body goes, and how much of it is kept.
struct kept_body {
    std::string* text;
    std::size_t limit;
};

size_t keep_text(char* data, size_t size, size_t n, void* out) {
    auto* k = static_cast<kept_body*>(out);
    if (k->text->size() < k->limit) k->text->append(data, std::min<std::size_t>(size * n, k->limit - k->text->size()));
    return size * n;
}

/// Runs a request whose answer is small (an error's XML: 2,000 bytes kept,
/// unless `limit` says more); the HTTP status (throws when there is none).
long perform(CURL* h, const std::string& what, std::string* body = nullptr, std::size_t limit = 2000) {
    std::string text;
    kept_body kept{body ? body : &text, limit};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &keep_text);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &kept);
    const CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) throw storage_error(what + ": " + curl_easy_strerror(rc));
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

std::string status_error(const std::string& what, long status, const std::string& body) {
    std::string out = what; // built with += : GCC 12's -Wrestrict misreads " " + std::string
    out += ": HTTP ";
    out += std::to_string(status);
    if (const auto a = body.find("<Code>"), b = body.find("</Code>"); a != std::string::npos && b > a) {
        out += ' ';
        out.append(body, a + 6, b - a - 6);
    }
    return out;
}

/// GET streamed through a pipe: a thread runs the transfer and writes the
/// body into the pipe (its 64 KiB buffer is the back-pressure), the reader
/// reads the other end. Closing the reader's end stops the transfer.
class s3_reader : public blob_reader {
public:
    struct head {
        long status = 0;
        std::int64_t length = -1;
        std::string error;
    };

    s3_reader(signed_request request, std::uint64_t offset) : request_(std::move(request)), offset_(offset) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw storage_error(std::string("cannot make a pipe: ") + std::strerror(errno));
        read_end_ = fds[0];
        write_end_ = fds[1];
        std::future<head> got = head_.get_future();
        thread_ = std::thread([this] { run(); });
        const head h = got.get();
        if (!h.error.empty()) {
            stop();
            throw storage_error(h.error);
        }
        status_ = h.status;
        length_ = h.length < 0 ? 0 : static_cast<std::uint64_t>(h.length);
    }
    ~s3_reader() override { stop(); }

    long status() const { return status_; }

    std::size_t read(char* buffer, std::size_t n) override {
        for (;;) {
            const ssize_t got = ::read(read_end_, buffer, n);
            if (got > 0) {
                done_ += static_cast<std::uint64_t>(got);
                return static_cast<std::size_t>(got);
            }
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) throw storage_error(std::string("cannot read from S3: ") + std::strerror(errno));
            if (thread_.joinable()) thread_.join();
            if (done_ < length_)
                throw storage_error("S3 transfer ended early: " + std::string(curl_easy_strerror(result_)));
            return 0;
        }
    }
    std::uint64_t offset() const override { return offset_; }
    std::uint64_t length() const override { return length_; }

private:
    static size_t on_header(char* data, size_t size, size_t n, void* self_ptr) {
        auto* self = static_cast<s3_reader*>(self_ptr);
        const std::size_t len = size * n;
        if (len == 2 && data[0] == '\r' && data[1] == '\n' && !self->head_set_) {
            long status = 0;
            curl_easy_getinfo(self->request_.get(), CURLINFO_RESPONSE_CODE, &status);
            if (status == 100) return len;
            curl_off_t cl = -1;
            curl_easy_getinfo(self->request_.get(), CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
            self->head_set_ = true;
            self->head_.set_value(head{status, static_cast<std::int64_t>(cl), ""});
            if (status != 200 && status != 206) return 0; // not the bytes: stop here
        }
        return len;
    }
    static size_t on_body(char* data, size_t size, size_t n, void* self_ptr) {
        auto* self = static_cast<s3_reader*>(self_ptr);
        std::size_t left = size * n;
        while (left > 0) {
            const ssize_t put = ::write(self->write_end_, data, left);
            if (put < 0 && errno == EINTR) continue;
            if (put <= 0) return 0; // the reader went away (EPIPE): stop the transfer
            data += put;
            left -= static_cast<std::size_t>(put);
        }
        return size * n;
    }
    void run() {
        CURL* h = request_.get();
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, this);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, this);
        result_ = curl_easy_perform(h);
        if (!head_set_) {
            head_set_ = true;
            head_.set_value(head{0, -1, std::string("S3 GET: ") + curl_easy_strerror(result_)});
        }
        ::close(write_end_);
        write_end_ = -1;
    }
    void stop() {
        if (read_end_ >= 0) ::close(read_end_);
        read_end_ = -1;
        if (thread_.joinable()) thread_.join();
    }

    signed_request request_;
    std::uint64_t offset_, length_ = 0, done_ = 0;
    long status_ = 0;
    int read_end_ = -1, write_end_ = -1;
    std::promise<head> head_;
    bool head_set_ = false; ///< only the transfer thread touches it
    std::atomic<CURLcode> result_{CURLE_OK};
    std::thread thread_;
};

} // namespace

s3_storage::s3_storage(s3_settings settings) : settings_(std::move(settings)) {}

std::string s3_storage::url_of(const std::string& key) const {
    return settings_.endpoint + "/" + settings_.bucket + "/" + key;
}

void s3_storage::put(const std::filesystem::path& file, const std::string& sha256) {
    if (!valid_sha256(sha256)) throw storage_error("not a blob key: '" + sha256 + "'");
    if (exists(sha256)) return;
    std::unique_ptr<FILE, decltype(&std::fclose)> in(std::fopen(file.c_str(), "rb"), &std::fclose);
    if (!in) throw storage_error("cannot open " + file.string() + ": " + std::strerror(errno));
    std::error_code ec;
    const auto size = std::filesystem::file_size(file, ec);
    if (ec) throw storage_error("cannot stat " + file.string() + ": " + ec.message());
    // The key is the body's SHA-256: the payload hash S3 checks the bytes against.
    auto c = signed_handle(settings_, url_of("blobs/" + sha256), sha256, "application/octet-stream");
    curl_easy_setopt(c.get(), CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c.get(), CURLOPT_READDATA, in.get());
    curl_easy_setopt(c.get(), CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
    curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout_ms));
    std::string body;
    const long status = perform(c.get(), "S3 PUT", &body);
    if (status != 200) throw storage_error(status_error("S3 PUT", status, body));
}

std::unique_ptr<blob_reader> s3_storage::open(const std::string& sha256, std::uint64_t offset, std::uint64_t length) {
    if (!valid_sha256(sha256)) throw storage_error("not a blob key: '" + sha256 + "'");
    auto c = signed_handle(settings_, url_of("blobs/" + sha256), empty_payload);
    // No overall timeout: a large download to a slow client may take long;
    // a stalled server is caught by the low-speed limit.
    curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_TIME, static_cast<long>(settings_.timeout_ms / 1000 + 1));
    if (offset > 0 || length > 0) {
        const std::string range =
            std::to_string(offset) + "-" + (length > 0 ? std::to_string(offset + length - 1) : std::string());
        curl_easy_setopt(c.get(), CURLOPT_RANGE, range.c_str());
    }
    auto reader = std::make_unique<s3_reader>(std::move(c), offset);
    if (reader->status() == 404) return nullptr;
    if (reader->status() != 200 && reader->status() != 206)
        throw storage_error("S3 GET: HTTP " + std::to_string(reader->status()));
    return reader;
}

bool s3_storage::exists(const std::string& sha256) {
    if (!valid_sha256(sha256)) throw storage_error("not a blob key: '" + sha256 + "'");
    auto c = signed_handle(settings_, url_of("blobs/" + sha256), empty_payload);
    curl_easy_setopt(c.get(), CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout_ms));
    const long status = perform(c.get(), "S3 HEAD");
    if (status == 200) return true;
    if (status == 404) return false;
    throw storage_error("S3 HEAD: HTTP " + std::to_string(status));
}

void s3_storage::remove(const std::string& sha256) {
    if (!valid_sha256(sha256)) throw storage_error("not a blob key: '" + sha256 + "'");
    auto c = signed_handle(settings_, url_of("blobs/" + sha256), empty_payload);
    curl_easy_setopt(c.get(), CURLOPT_CUSTOMREQUEST, "DELETE");
    curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout_ms));
    std::string body;
    const long status = perform(c.get(), "S3 DELETE", &body);
    if (status != 204 && status != 200 && status != 404) throw storage_error(status_error("S3 DELETE", status, body));
}

namespace {

/// The text of the first <tag>…</tag> at or after `from` and before `end`; "" when none.
std::string element(const std::string& xml, const std::string& tag, std::size_t from, std::size_t end,
                    std::size_t* after = nullptr) {
    const std::string open = "<" + tag + ">", close = "</" + tag + ">";
    const auto a = xml.find(open, from);
    if (a == std::string::npos || a >= end) return "";
    const auto b = xml.find(close, a);
    if (b == std::string::npos || b > end) return "";
    if (after) *after = b + close.size();
    // Keys here are hex names, but a continuation token may hold "&amp;":
    // decoded once, left to right (so "&amp;amp;" stays "&amp;").
    std::string text;
    for (std::size_t at = a + open.size(); at < b;) {
        if (xml.compare(at, 5, "&amp;") == 0) {
            text += '&';
            at += 5;
        } else {
            text += xml[at++];
        }
    }
    return text;
}

/// "2026-12-02T15:00:00.000Z" as seconds since the epoch; 0 when it is not one.
std::int64_t iso_seconds(const std::string& text) {
    std::tm tm{};
    if (!strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
    return static_cast<std::int64_t>(timegm(&tm));
}

std::string query_escape(const std::string& v) {
    char* e = curl_easy_escape(nullptr, v.c_str(), static_cast<int>(v.size()));
    std::string out = e ? e : "";
    curl_free(e);
    return out;
}

} // namespace

void s3_storage::walk(const std::function<void(const std::string& sha256, std::int64_t written)>& each) {
    // ListObjectsV2 under blobs/, a page (1,000 keys) at a time. The query's
    // parameters in name order and escaped as SigV4 wants them.
    std::string token;
    for (;;) {
        std::string url = settings_.endpoint + "/" + settings_.bucket + "?";
        if (!token.empty()) url += "continuation-token=" + query_escape(token) + "&";
        url += "list-type=2&prefix=" + query_escape("blobs/");
        auto c = signed_handle(settings_, url, empty_payload);
        curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout_ms));
        std::string body;
        const long status = perform(c.get(), "S3 LIST", &body, std::string::npos); // a page of keys: all of it
        if (status != 200) throw storage_error(status_error("S3 LIST", status, body));
        for (std::size_t at = 0;;) {
            const auto start = body.find("<Contents>", at);
            if (start == std::string::npos) break;
            const auto end = body.find("</Contents>", start);
            if (end == std::string::npos) break;
            const std::string key = element(body, "Key", start, end);
            const std::string sha = key.rfind("blobs/", 0) == 0 ? key.substr(6) : "";
            if (valid_sha256(sha)) each(sha, iso_seconds(element(body, "LastModified", start, end)));
            at = end;
        }
        if (element(body, "IsTruncated", 0, body.size()) != "true") break;
        token = element(body, "NextContinuationToken", 0, body.size());
        if (token.empty()) throw storage_error("S3 LIST: truncated, and no continuation token");
    }
}

std::string s3_storage::probe() {
    try {
        auto c = signed_handle(settings_, url_of("probe/readyz"), "UNSIGNED-PAYLOAD");
        static const char text[] = "ok";
        struct source {
            const char* data;
            std::size_t left;
        } src{text, 2};
        curl_easy_setopt(c.get(), CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c.get(), CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(2));
        curl_easy_setopt(c.get(), CURLOPT_READFUNCTION, +[](char* buf, size_t size, size_t n, void* p) -> size_t {
            auto* s = static_cast<source*>(p);
            const std::size_t k = std::min(size * n, s->left);
            std::memcpy(buf, s->data, k);
            s->data += k;
            s->left -= k;
            return k;
        });
        curl_easy_setopt(c.get(), CURLOPT_READDATA, &src);
        curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, 5000L);
        std::string body;
        const long status = perform(c.get(), "S3 PUT", &body);
        return status == 200 ? "" : status_error("S3 PUT probe/readyz", status, body);
    } catch (const storage_error& e) {
        return e.what();
    }
}

std::string s3_storage::describe() const { return "s3 " + settings_.endpoint + "/" + settings_.bucket; }

} // namespace mqchat::media
