// The media service (docs/media.md), driven over HTTP as clients drive it:
// a real PostgreSQL (migrated, a user and a conversation made with
// mqchat-admin), upload rows inserted as the bridge's media.upload makes
// them (status pending, the policy columns) with URLs signed by
// common/media_url, and the real mqchat-media. Each test checks the
// database rows and the storage, not only the status codes.

#include <cppunit/extensions/HelperMacros.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <regex>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/hmac.hpp"
#include "common/json.hpp"
#include "common/media_url.hpp"
#include "common/pg.hpp"
#include "support/http_get.hpp"
#include "support/servers.hpp"
#include "support/test_images.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string secret = "media-url-secret-for-tests-0123456789abcdef";

struct environment {
    temp_dir dir{"media"};
    pg_cluster db{dir};
    std::int64_t conv = 0, alice = 0;
    std::int64_t next_seq = 0;
    int services = 0;
    environment() {
        admin_ok(db.conninfo(), {"migrate"});
        add_user(db.conninfo(), "alice", "alice-pw");
        conv = create_conv(db.conninfo(), {"alice"}, "media");
        pg::connection c(db.conninfo());
        alice = c.exec("SELECT id FROM users WHERE name = 'alice'").int64(0, 0);
    }
};
environment& env() {
    static auto e = std::make_unique<environment>();
    return *e;
}

pg::connection sql() { return pg::connection(env().db.conninfo()); }

/// A media service of its own for one test (its own data directory and ports).
std::unique_ptr<media_service> start_media(std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), "sweep_interval_s 0"); // tests that sweep say so
    auto m = std::make_unique<media_service>(env().dir, env().db.conninfo(), secret, extra,
                                             "media" + std::to_string(++env().services));
    m->start();
    return m;
}

/// An upload row as the bridge's media.upload makes it; returns its id.
std::string new_upload(const std::string& name, const std::string& type, std::size_t size,
                       std::size_t max_bytes = 1 << 20,
                       const std::vector<std::string>& types = {"image/*", "application/pdf"},
                       std::int64_t conv = 0) {
    const std::string id = media_url::new_media_id();
    sql().exec("INSERT INTO media (id, uploader_id, conv_id, declared_name, declared_type, declared_size, max_bytes,"
               "                   allowed_types, upload_expires_at)"
               " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text[], now() + interval '10 minutes')",
               {id, std::to_string(env().alice), std::to_string(conv ? conv : env().conv), name, type,
                std::to_string(size), std::to_string(max_bytes), pg::text_array(types)});
    return id;
}

std::string signed_url(const media_service& m, std::string_view purpose, const std::string& id,
                       std::int64_t expires = 0) {
    if (expires == 0) expires = std::time(nullptr) + 600;
    return m.base_url() + media_url::signed_path(secret, purpose, id, expires);
}

struct media_row {
    bool exists = false;
    std::string status, refusal, mime, sha256, thumb_sha256, thumb_mime;
    std::int64_t size = 0, width = 0, height = 0;
};
media_row row(const std::string& id) {
    const auto r = sql().exec("SELECT status, coalesce(refusal, ''), coalesce(mime, ''), coalesce(sha256, ''),"
                              "       coalesce(thumb_sha256, ''), coalesce(thumb_mime, ''), coalesce(size, 0),"
                              "       coalesce(width, 0), coalesce(height, 0)"
                              "  FROM media WHERE id = $1",
                              {id});
    media_row m;
    if (r.rows() == 0) return m;
    m.exists = true;
    m.status = r.str(0, 0);
    m.refusal = r.str(0, 1);
    m.mime = r.str(0, 2);
    m.sha256 = r.str(0, 3);
    m.thumb_sha256 = r.str(0, 4);
    m.thumb_mime = r.str(0, 5);
    m.size = r.int64(0, 6);
    m.width = r.int64(0, 7);
    m.height = r.int64(0, 8);
    return m;
}

std::string sha256_hex(const std::string& bytes) {
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
    return hex(d, sizeof d);
}

std::string blob_path(const media_service& m, const std::string& sha) {
    return m.data_dir() + "/blobs/" + sha.substr(0, 2) + "/" + sha;
}

/// Blob files in the storage (temp files excluded).
std::vector<std::string> blobs(const media_service& m) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& f : fs::recursive_directory_iterator(m.data_dir() + "/blobs", ec))
        if (f.is_regular_file() && f.path().filename().string()[0] != '.') out.push_back(f.path().filename());
    return out;
}

std::string joined(std::vector<std::string> items) {
    std::sort(items.begin(), items.end());
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
    return out;
}

/// Files left in the upload temp directory.
std::size_t temp_files(const media_service& m) {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& f : fs::recursive_directory_iterator(m.data_dir() + "/tmp", ec)) n += f.is_regular_file();
    return n;
}

const std::string pdf = "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
                        "2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
                        "trailer\n<< /Root 1 0 R >>\n%%EOF\n";

/// A raw TCP connection, for what curl will not do (stop halfway).
struct raw_socket {
    int fd = -1;
    explicit raw_socket(int port) {
        fd = connect_loopback(port);
        CPPUNIT_ASSERT(fd >= 0);
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~raw_socket() { close(); }
    bool send(const std::string& s) { return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()); }
    /// Everything until the peer closes (or 5 s pass).
    std::string read_all() {
        std::string out;
        char buf[4096];
        for (;;) {
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            out.append(buf, static_cast<std::size_t>(n));
        }
        return out;
    }
    void close() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

std::string path_of(const std::string& url) { return url.substr(url.find('/', 8)); }

std::string error_code(const http_response& r) {
    Json::Value v;
    std::string e;
    return json::parse(r.body, v, e) ? v["error"]["code"].asString() : "(not JSON: " + r.body + ")";
}

/// Marks upload `id` as carried by a new message of its conversation; returns the seq.
std::int64_t attach(const std::string& id, std::int64_t conv = 0) {
    const std::int64_t c = conv ? conv : env().conv;
    const std::int64_t seq = ++env().next_seq;
    auto db = sql();
    db.exec("INSERT INTO messages (conv_id, seq, sender_id, client_id, body, type, ts, media_id)"
            " VALUES ($1, $2, $3, $4, '', 'file', 0, $5)",
            {std::to_string(c), std::to_string(seq), std::to_string(env().alice), "m-" + std::to_string(seq), id});
    db.exec("UPDATE media SET seq = $2 WHERE id = $1", {id, std::to_string(seq)});
    return seq;
}

http_response put(const std::string& url, const std::string& body, std::vector<std::string> headers = {}) {
    return http_request("PUT", url, headers, body);
}

} // namespace

class media_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(media_test);
    CPPUNIT_TEST(image_upload_download_and_single_use);
    CPPUNIT_TEST(jpeg_is_reencoded_with_a_thumbnail);
    CPPUNIT_TEST(file_with_a_hostile_name_is_an_attachment);
    CPPUNIT_TEST(forged_and_expired_urls_read_and_store_nothing);
    CPPUNIT_TEST(oversize_is_refused_at_once);
    CPPUNIT_TEST(interrupted_upload_is_refused_and_leaves_nothing);
    CPPUNIT_TEST(same_bytes_are_one_blob);
    CPPUNIT_TEST(sweeper_removes_orphans_and_deleted_messages_media);
    CPPUNIT_TEST(storage_walk_removes_blobs_no_row_names);
    CPPUNIT_TEST(s3_storage_with_signed_requests);
    CPPUNIT_TEST(virus_scanner_unavailable_fails_closed_or_open);
    CPPUNIT_TEST(bad_settings_stop_the_start);
    CPPUNIT_TEST(routes_cors_metrics_and_health);
    CPPUNIT_TEST_SUITE_END();

public:
    void image_upload_download_and_single_use() {
        auto m = start_media();
        const std::string jpeg = make_jpeg(64, 48);
        const std::string id = new_upload("photo.jpg", "image/jpeg", jpeg.size());
        const std::string upload_url = signed_url(*m, media_url::upload, id);
        const auto up = put(upload_url, jpeg, {"Content-Type: image/jpeg"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(up.body + m->log(), 200L, up.status);
        Json::Value v;
        std::string e;
        CPPUNIT_ASSERT(json::parse(up.body, v, e));
        CPPUNIT_ASSERT_EQUAL(id, v["media"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("image/jpeg"), v["mime"].asString());

        const media_row r = row(id);
        CPPUNIT_ASSERT_EQUAL(std::string("ready"), r.status);
        CPPUNIT_ASSERT_EQUAL(std::string("image/jpeg"), r.mime);
        CPPUNIT_ASSERT_EQUAL(v["size"].asInt64(), r.size);
        // Content-addressed: the blob's name is the SHA-256 of its bytes.
        const std::string stored = read_file(blob_path(*m, r.sha256));
        CPPUNIT_ASSERT_EQUAL(static_cast<std::size_t>(r.size), stored.size());
        CPPUNIT_ASSERT_EQUAL(r.sha256, sha256_hex(stored));
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), temp_files(*m));

        // Downloaded with the headers that keep a browser safe.
        const std::string media = signed_url(*m, media_url::media, id);
        const auto got = http_request("GET", media, {"Origin: https://shop.example"});
        CPPUNIT_ASSERT_EQUAL(200L, got.status);
        CPPUNIT_ASSERT(got.body == stored);
        CPPUNIT_ASSERT_EQUAL(std::string("image/jpeg"), got.headers.at("content-type"));
        CPPUNIT_ASSERT_EQUAL(std::string("nosniff"), got.headers.at("x-content-type-options"));
        CPPUNIT_ASSERT_EQUAL(std::string("default-src 'none'; sandbox"), got.headers.at("content-security-policy"));
        CPPUNIT_ASSERT_EQUAL(std::string("inline"), got.headers.at("content-disposition"));
        CPPUNIT_ASSERT_EQUAL(std::string("cross-origin"), got.headers.at("cross-origin-resource-policy"));
        CPPUNIT_ASSERT_EQUAL("\"" + r.sha256 + "\"", got.headers.at("etag"));
        CPPUNIT_ASSERT_EQUAL(std::string("*"), got.headers.at("access-control-allow-origin"));
        const std::string cache = got.headers.at("cache-control");
        CPPUNIT_ASSERT_MESSAGE(cache, cache.rfind("private, max-age=", 0) == 0);
        const int max_age = std::stoi(cache.substr(17));
        CPPUNIT_ASSERT(max_age > 590 && max_age <= 600);

        const auto head = http_request("HEAD", media);
        CPPUNIT_ASSERT_EQUAL(200L, head.status);
        CPPUNIT_ASSERT_EQUAL(std::to_string(stored.size()), head.headers.at("content-length"));
        CPPUNIT_ASSERT(head.body.empty());
        const auto part = http_request("GET", media, {"Range: bytes=2-11"});
        CPPUNIT_ASSERT_EQUAL(206L, part.status);
        CPPUNIT_ASSERT(part.body == stored.substr(2, 10));
        CPPUNIT_ASSERT_EQUAL("bytes 2-11/" + std::to_string(stored.size()), part.headers.at("content-range"));
        CPPUNIT_ASSERT_EQUAL(416L, http_request("GET", media, {"Range: bytes=999999-"}).status);
        CPPUNIT_ASSERT_EQUAL(304L, http_request("GET", media, {"If-None-Match: \"" + r.sha256 + "\""}).status);

        // The upload URL is single use: a second PUT changes nothing.
        const auto again = put(upload_url, make_jpeg(10, 10));
        CPPUNIT_ASSERT_EQUAL(409L, again.status);
        CPPUNIT_ASSERT_EQUAL(std::string("already_used"), error_code(again));
        CPPUNIT_ASSERT_EQUAL(r.sha256, row(id).sha256);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1) + (r.thumb_sha256.empty() ? 0 : 1), blobs(*m).size());

        // A deleted message's media is gone at once, before any sweep.
        attach(id);
        CPPUNIT_ASSERT_EQUAL(200L, http_request("GET", media).status);
        sql().exec("UPDATE messages SET deleted = true WHERE media_id = $1", {id});
        CPPUNIT_ASSERT_EQUAL(404L, http_request("GET", media).status);
        // A media URL is no upload URL, nor a thumbnail's.
        CPPUNIT_ASSERT_EQUAL(403L, put(m->base_url() + path_of(media).replace(0, 7, "/upload/"), "x").status);
    }

    void jpeg_is_reencoded_with_a_thumbnail() {
        auto m = start_media({"thumb_max_side 32"});
        const std::string jpeg = make_jpeg(200, 100);
        const std::string id = new_upload("big.jpg", "image/jpeg", jpeg.size());
        const auto up = put(signed_url(*m, media_url::upload, id), jpeg);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(up.body, 200L, up.status);
        const media_row r = row(id);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(200), r.width);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100), r.height);
        CPPUNIT_ASSERT_MESSAGE("no thumbnail", !r.thumb_sha256.empty());
        const std::string thumb = read_file(blob_path(*m, r.thumb_sha256));
        CPPUNIT_ASSERT_EQUAL(r.thumb_sha256, sha256_hex(thumb));
        const auto got = http_request("GET", signed_url(*m, media_url::thumb, id));
        CPPUNIT_ASSERT_EQUAL(200L, got.status);
        CPPUNIT_ASSERT(got.body == thumb);
        CPPUNIT_ASSERT_EQUAL(r.thumb_mime, got.headers.at("content-type"));
        CPPUNIT_ASSERT_EQUAL(std::string("inline"), got.headers.at("content-disposition"));
    }

    void file_with_a_hostile_name_is_an_attachment() {
        auto m = start_media();
        const std::string name = "r\u00e9sum\u00e9\"; x=\"y\r\nSet-Cookie: a=b/../..\\report.pdf";
        const std::string id = new_upload(name, "application/pdf", pdf.size());
        const auto up = http_request("POST", signed_url(*m, media_url::upload, id), {"Content-Type: application/pdf"}, pdf);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(up.body, 200L, up.status);
        CPPUNIT_ASSERT_EQUAL(std::string("application/pdf"), row(id).mime);
        const auto got = http_request("GET", signed_url(*m, media_url::media, id));
        CPPUNIT_ASSERT_EQUAL(200L, got.status);
        CPPUNIT_ASSERT(got.body == pdf);
        CPPUNIT_ASSERT_EQUAL(std::string("application/pdf"), got.headers.at("content-type"));
        CPPUNIT_ASSERT(got.headers.count("set-cookie") == 0);
        const std::string d = got.headers.at("content-disposition");
        CPPUNIT_ASSERT_EQUAL(std::string("attachment; filename=\"r__sum_____x__y__Set-Cookie__a_b_.._.._report.pdf\"; "
                                         "filename*=UTF-8''r%C3%A9sum%C3%A9%22%3B%20x%3D%22y%0D%0ASet-Cookie%3A%20a%3Db%2F..%2F..%5Creport.pdf"),
                             d);
        CPPUNIT_ASSERT_EQUAL(std::string("nosniff"), got.headers.at("x-content-type-options"));
    }

    void forged_and_expired_urls_read_and_store_nothing() {
        auto m = start_media();
        const std::string id = new_upload("a.pdf", "application/pdf", pdf.size());
        std::string forged = signed_url(*m, media_url::upload, id);
        forged[forged.size() - 1] = forged.back() == '0' ? '1' : '0';
        const auto bad = put(forged, pdf);
        CPPUNIT_ASSERT_EQUAL(403L, bad.status);
        CPPUNIT_ASSERT_EQUAL(std::string("bad_signature"), error_code(bad));
        const auto old = put(signed_url(*m, media_url::upload, id, std::time(nullptr) - 5), pdf);
        CPPUNIT_ASSERT_EQUAL(403L, old.status);
        CPPUNIT_ASSERT_EQUAL(std::string("expired"), error_code(old));
        // Signed for another purpose (a download URL used to upload).
        CPPUNIT_ASSERT_EQUAL(403L, put(m->base_url() + "/upload/" + id + path_of(signed_url(*m, media_url::media, id)).substr(39), pdf).status);
        CPPUNIT_ASSERT_EQUAL(std::string("pending"), row(id).status);
        CPPUNIT_ASSERT(blobs(*m).empty());
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), temp_files(*m));
        // Nothing read: the refusal comes before the body (curl waits for 100 Continue and gets the 403).
        const auto metrics = http_get("http://127.0.0.1:" + std::to_string(m->metrics_port()) + "/metrics");
        CPPUNIT_ASSERT_EQUAL(0.0, sample_value(metrics.body, "mqchat_media_received_bytes_total"));
        CPPUNIT_ASSERT_EQUAL(2.0, sample_value(metrics.body, "mqchat_media_uploads_total{outcome=\"bad_signature\"}"));
        // The URL still works afterwards: nothing was used up.
        CPPUNIT_ASSERT_EQUAL(200L, put(signed_url(*m, media_url::upload, id), pdf).status);
        // Downloads too.
        std::string forged_get = signed_url(*m, media_url::media, id);
        forged_get[forged_get.size() - 1] = forged_get.back() == '0' ? '1' : '0';
        CPPUNIT_ASSERT_EQUAL(403L, http_request("GET", forged_get).status);
        CPPUNIT_ASSERT_EQUAL(403L, http_request("GET", signed_url(*m, media_url::media, id, std::time(nullptr) - 1)).status);
        CPPUNIT_ASSERT_EQUAL(403L, http_request("GET", signed_url(*m, media_url::thumb, id).replace(
                                                           signed_url(*m, media_url::thumb, id).find("/thumb"), 6, ""))
                                       .status);
    }

    void oversize_is_refused_at_once() {
        auto m = start_media();
        // Declared by Content-Length: refused before the body is sent.
        const std::string id = new_upload("big.pdf", "application/pdf", 1000, 1000);
        const std::string big(4 << 20, 'x');
        const auto started = std::chrono::steady_clock::now();
        const auto r = put(signed_url(*m, media_url::upload, id), big);
        CPPUNIT_ASSERT_EQUAL(413L, r.status);
        CPPUNIT_ASSERT_EQUAL(std::string("too_large"), error_code(r));
        CPPUNIT_ASSERT(std::chrono::steady_clock::now() - started < 3s);
        CPPUNIT_ASSERT_EQUAL(std::string("refused"), row(id).status);
        CPPUNIT_ASSERT_EQUAL(std::string("too_large"), row(id).refusal);

        // Chunked, no length: stopped as soon as more than max_bytes arrived, and the connection closed.
        const std::string id2 = new_upload("big2.pdf", "application/pdf", 1000, 1000);
        raw_socket s(m->port());
        CPPUNIT_ASSERT(s.send("PUT " + path_of(signed_url(*m, media_url::upload, id2)) +
                              " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
        const std::string chunk(800, 'y');
        char size_line[16];
        std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
        bool sent_all = true;
        for (int i = 0; i < 200 && sent_all; ++i) sent_all = s.send(size_line + chunk + "\r\n");
        // libmicrohttpd 0.9.75 cannot queue a reply once it reads a body, so
        // the service closes the connection (a newer one may answer 413 first).
        const std::string answer = s.read_all(); // returns when the service closes
        CPPUNIT_ASSERT_MESSAGE(answer, answer.empty() || answer.find(" 413 ") != std::string::npos);
        CPPUNIT_ASSERT(eventually([&] { return row(id2).refusal == "too_large"; }));
        CPPUNIT_ASSERT_EQUAL(std::string("refused"), row(id2).status);
        CPPUNIT_ASSERT(blobs(*m).empty());
        CPPUNIT_ASSERT(eventually([&] { return temp_files(*m) == 0; }));
    }

    void interrupted_upload_is_refused_and_leaves_nothing() {
        auto m = start_media();
        const std::string id = new_upload("cut.pdf", "application/pdf", 10000);
        {
            raw_socket s(m->port());
            CPPUNIT_ASSERT(s.send("PUT " + path_of(signed_url(*m, media_url::upload, id)) +
                                  " HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n" + std::string(3000, 'z')));
            CPPUNIT_ASSERT(eventually([&] { return row(id).status == "receiving"; }));
        } // closed halfway
        CPPUNIT_ASSERT(eventually([&] { return row(id).status == "refused"; }));
        CPPUNIT_ASSERT_EQUAL(std::string("truncated"), row(id).refusal);
        CPPUNIT_ASSERT(blobs(*m).empty());
        CPPUNIT_ASSERT(eventually([&] { return temp_files(*m) == 0; }));
        // A complete body shorter than declared is refused the same way.
        const std::string id2 = new_upload("short.pdf", "application/pdf", pdf.size() + 100);
        const auto r = put(signed_url(*m, media_url::upload, id2), pdf);
        CPPUNIT_ASSERT_EQUAL(422L, r.status);
        CPPUNIT_ASSERT_EQUAL(std::string("truncated"), row(id2).refusal);
        CPPUNIT_ASSERT(blobs(*m).empty());
    }

    void same_bytes_are_one_blob() {
        auto m = start_media();
        const std::string a = new_upload("one.pdf", "application/pdf", pdf.size());
        const std::string b = new_upload("two.pdf", "application/pdf", pdf.size());
        CPPUNIT_ASSERT_EQUAL(200L, put(signed_url(*m, media_url::upload, a), pdf).status);
        CPPUNIT_ASSERT_EQUAL(200L, put(signed_url(*m, media_url::upload, b), pdf).status);
        CPPUNIT_ASSERT_EQUAL(row(a).sha256, row(b).sha256);
        CPPUNIT_ASSERT_EQUAL(sha256_hex(pdf), row(a).sha256);
        CPPUNIT_ASSERT_EQUAL(sha256_hex(pdf), joined(blobs(*m)));
    }

    void sweeper_removes_orphans_and_deleted_messages_media() {
        auto m = start_media({"orphan_ttl_s 60"});
        const auto upload = [&](const std::string& bytes, std::int64_t conv = 0) {
            const std::string id = new_upload("f.pdf", "application/pdf", bytes.size(), 1 << 20,
                                              {"application/pdf"}, conv);
            const auto r = put(signed_url(*m, media_url::upload, id), bytes);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.body, 200L, r.status);
            return id;
        };
        const std::string shared = pdf + "%shared\n", own = pdf + "%own\n", deleted_own = pdf + "%deleted\n",
                          gone_conv = pdf + "%gone\n";
        const std::string orphan = upload(own);                // ready, no message took it, old
        const std::string pending = new_upload("p.pdf", "application/pdf", 10); // never uploaded, old
        const std::string fresh = upload(pdf + "%fresh\n");    // ready, no message yet, young: stays
        const std::string kept = upload(shared);               // attached to a live message: stays
        const std::string dropped = upload(shared);            // same bytes, its message deleted
        const std::string dropped_own = upload(deleted_own);   // its message purged (row gone)
        const std::int64_t conv2 = create_conv(env().db.conninfo(), {"alice"}, "to be deleted");
        const std::string in_gone_conv = upload(gone_conv, conv2);
        attach(kept);
        attach(dropped);
        attach(in_gone_conv, conv2);
        const std::int64_t purged_seq = attach(dropped_own);
        auto db = sql();
        db.exec("UPDATE media SET created_at = now() - interval '2 minutes' WHERE id = ANY($1::text[])",
                {pg::text_array({orphan, pending, kept, dropped, dropped_own, in_gone_conv})});
        db.exec("UPDATE messages SET deleted = true WHERE media_id = $1", {dropped});
        db.exec("DELETE FROM messages WHERE conv_id = $1 AND seq = $2",
                {std::to_string(env().conv), std::to_string(purged_seq)});
        db.exec("DELETE FROM conversations WHERE id = $1", {std::to_string(conv2)});
        CPPUNIT_ASSERT_EQUAL(5u, static_cast<unsigned>(blobs(*m).size()));

        m->stop();
        std::ofstream(m->config_path(), std::ios::app) << "sweep_interval_s 1\n";
        m->start();
        CPPUNIT_ASSERT_MESSAGE(m->log(), eventually([&] { return !row(orphan).exists && !row(in_gone_conv).exists; }, 10s));
        for (const auto& id : {orphan, pending, dropped, dropped_own, in_gone_conv})
            CPPUNIT_ASSERT_MESSAGE(id, !row(id).exists);
        CPPUNIT_ASSERT(row(kept).exists && row(fresh).exists);
        CPPUNIT_ASSERT_EQUAL(joined({sha256_hex(shared), sha256_hex(pdf + "%fresh\n")}), joined(blobs(*m))); // the shared blob stays for the message that keeps it
        // The round's line comes after its last removal.
        CPPUNIT_ASSERT_MESSAGE(m->log(), eventually([&] {
            return std::regex_search(m->log(), std::regex("mqchat-media: swept [0-9]+ uploads and [0-9]+ blobs"));
        }));
        const auto metrics = http_get("http://127.0.0.1:" + std::to_string(m->metrics_port()) + "/metrics");
        // (At least: the suite's other rows share the database, and a round sweeps them too.)
        CPPUNIT_ASSERT(sample_value(metrics.body, "mqchat_media_swept_total{what=\"blobs\"}") >= 3.0);
        // Then its message goes too: the last row and the blob with it.
        db.exec("UPDATE messages SET deleted = true WHERE media_id = $1", {kept});
        CPPUNIT_ASSERT(eventually([&] { return !row(kept).exists; }, 10s));
        CPPUNIT_ASSERT(eventually([&] { return blobs(*m).size() == 1; }));
    }

    /// A crash between storing a blob and marking its row ready leaves a blob no row names (here:
    /// the row deleted behind the service's back). The row sweep cannot see it; the storage walk does.
    void storage_walk_removes_blobs_no_row_names() {
        auto m = start_media({"orphan_ttl_s 3600"});
        const auto upload = [&](const std::string& bytes) {
            const std::string id = new_upload("w.pdf", "application/pdf", bytes.size(), 1 << 20, {"application/pdf"});
            const auto r = put(signed_url(*m, media_url::upload, id), bytes);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.body, 200L, r.status);
            return id;
        };
        const std::string lost_bytes = pdf + "%walk-lost\n", kept_bytes = pdf + "%walk-kept\n";
        const std::string lost = upload(lost_bytes), kept = upload(kept_bytes);
        attach(kept);
        sql().exec("DELETE FROM media WHERE id = $1", {lost});
        CPPUNIT_ASSERT_EQUAL(joined({sha256_hex(lost_bytes), sha256_hex(kept_bytes)}), joined(blobs(*m)));
        // Young blobs are left alone (an upload being checked has its blob before its row names it).
        m->stop();
        std::ofstream(m->config_path(), std::ios::app) << "sweep_interval_s 1\nblob_walk_interval_s 1\n";
        m->start();
        std::this_thread::sleep_for(3s);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), blobs(*m).size());
        // Older than orphan_ttl_s: the one no row names goes, the other stays.
        m->stop();
        std::ofstream(m->config_path(), std::ios::app) << "orphan_ttl_s 1\n";
        m->start();
        CPPUNIT_ASSERT_MESSAGE(m->log(), eventually([&] { return blobs(*m).size() == 1; }, 15s));
        CPPUNIT_ASSERT_EQUAL(sha256_hex(kept_bytes), joined(blobs(*m)));
        CPPUNIT_ASSERT(row(kept).exists);
        // The line is written once the walk is over, a moment after the blob went.
        CPPUNIT_ASSERT_MESSAGE(m->log(), eventually([&] {
            return std::regex_search(m->log(), std::regex("walked storage: removed 1 blobs no upload names"));
        }));
        const auto metrics = http_get("http://127.0.0.1:" + std::to_string(m->metrics_port()) + "/metrics");
        CPPUNIT_ASSERT_EQUAL(1.0, sample_value(metrics.body, "mqchat_media_swept_total{what=\"unnamed_blobs\"}"));
    }

    void s3_storage_with_signed_requests() {
        temp_dir s3dir("media-s3");
        child_process fake({"node", source_dir() + "/tests/support/fake_s3.js", s3dir.file("port"), s3dir.file("data"),
                            "media", s3dir.file("requests.log")},
                           s3dir.file("node.log"), {"NODE_PATH=" + source_dir() + "/tests/s3/node_modules"});
        const std::string port = fake.wait_for_file(s3dir.file("port"));
        CPPUNIT_ASSERT_MESSAGE(read_file(s3dir.file("node.log")), !port.empty());
        write_secret_file(s3dir.file("s3.secret"), "S3RVER\n");
        auto m = start_media({"storage s3", "s3_endpoint http://127.0.0.1:" + port, "s3_bucket media",
                              "s3_region us-east-1", "s3_access_key S3RVER", "s3_secret_key_file " + s3dir.file("s3.secret"),
                              "orphan_ttl_s 60"});
        // Bytes of its own: another test's rows must not keep this blob.
        const std::string bytes = pdf + "%s3\n";
        const std::string id = new_upload("s3.pdf", "application/pdf", bytes.size());
        const auto up = put(signed_url(*m, media_url::upload, id), bytes);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(up.body + m->log(), 200L, up.status);
        const std::string sha = row(id).sha256;
        const std::string object = s3dir.file("data") + "/media/blobs/" + sha + "._S3rver_object";
        CPPUNIT_ASSERT_EQUAL(bytes, read_file(object));
        const auto got = http_request("GET", signed_url(*m, media_url::media, id));
        CPPUNIT_ASSERT_EQUAL(200L, got.status);
        CPPUNIT_ASSERT(got.body == bytes);
        CPPUNIT_ASSERT_EQUAL(std::string("application/pdf"), got.headers.at("content-type"));
        const auto part = http_request("GET", signed_url(*m, media_url::media, id), {"Range: bytes=0-7"});
        CPPUNIT_ASSERT_EQUAL(206L, part.status);
        CPPUNIT_ASSERT_EQUAL(std::string("%PDF-1.4"), part.body);
        CPPUNIT_ASSERT(eventually([&] {
            return http_get("http://127.0.0.1:" + std::to_string(m->metrics_port()) + "/readyz").status == 200;
        }));

        // Swept: the object is deleted from the bucket.
        sql().exec("UPDATE media SET created_at = now() - interval '2 minutes' WHERE id = $1", {id});
        m->stop();
        std::ofstream(m->config_path(), std::ios::app) << "sweep_interval_s 1\n";
        m->start();
        CPPUNIT_ASSERT(eventually([&] { return !row(id).exists; }, 10s));
        CPPUNIT_ASSERT(eventually([&] { return !fs::exists(object); }));

        // The storage walk lists the bucket (ListObjectsV2, signed like the rest) and removes a
        // blob no row names.
        const std::string lost_bytes = pdf + "%s3-walk\n";
        const std::string lost = new_upload("lost.pdf", "application/pdf", lost_bytes.size());
        CPPUNIT_ASSERT_EQUAL(200L, put(signed_url(*m, media_url::upload, lost), lost_bytes).status);
        const std::string lost_object = s3dir.file("data") + "/media/blobs/" + sha256_hex(lost_bytes) + "._S3rver_object";
        CPPUNIT_ASSERT(fs::exists(lost_object));
        sql().exec("DELETE FROM media WHERE id = $1", {lost});
        m->stop();
        std::ofstream(m->config_path(), std::ios::app) << "orphan_ttl_s 1\nblob_walk_interval_s 1\n";
        m->start();
        CPPUNIT_ASSERT_MESSAGE(m->log(), eventually([&] { return !fs::exists(lost_object); }, 15s));
        CPPUNIT_ASSERT_MESSAGE(m->log(), eventually([&] {
            return std::regex_search(m->log(), std::regex("walked storage: removed 1 blobs"));
        }));

        // Every request was SigV4-signed and verified by the fake; the blob's
        // PUT carried its SHA-256 as the signed payload hash.
        const std::string log = read_file(s3dir.file("requests.log"));
        bool put_seen = false, get_seen = false, delete_seen = false;
        std::istringstream lines(log);
        for (std::string line; std::getline(lines, line);) {
            Json::Value v;
            std::string e;
            CPPUNIT_ASSERT(json::parse(line, v, e));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(line, std::string("AWS4-HMAC-SHA256"), v["scheme"].asString());
            CPPUNIT_ASSERT_MESSAGE(line, v["verified"].asBool());
            const std::string path = v["path"].asString(), method = v["method"].asString();
            if (path == "/media/blobs/" + sha) {
                put_seen |= method == "PUT" && v["payload"].asString() == sha;
                get_seen |= method == "GET";
                delete_seen |= method == "DELETE";
            }
        }
        CPPUNIT_ASSERT_MESSAGE(log, put_seen && get_seen && delete_seen);

        // A wrong secret is refused by the fake (so the check above means something): not ready.
        write_secret_file(s3dir.file("wrong.secret"), "NOT-THE-SECRET\n");
        auto wrong = start_media({"storage s3", "s3_endpoint http://127.0.0.1:" + port, "s3_bucket media",
                                  "s3_access_key S3RVER", "s3_secret_key_file " + s3dir.file("wrong.secret")});
        std::this_thread::sleep_for(500ms);
        CPPUNIT_ASSERT(eventually([&] {
            return http_get("http://127.0.0.1:" + std::to_string(wrong->metrics_port()) + "/readyz").status == 503;
        }));
        fake.stop();
    }

    void virus_scanner_unavailable_fails_closed_or_open() {
        const std::string nobody = "clamd tcp:127.0.0.1:" + std::to_string(free_port());
        auto closed = start_media({nobody, "clamd_timeout_ms 1000"});
        const std::string id = new_upload("scan.pdf", "application/pdf", pdf.size());
        const auto r = put(signed_url(*closed, media_url::upload, id), pdf);
        CPPUNIT_ASSERT_EQUAL(503L, r.status);
        CPPUNIT_ASSERT_EQUAL(std::string("scan_unavailable"), error_code(r));
        CPPUNIT_ASSERT_EQUAL(std::string("refused"), row(id).status);
        CPPUNIT_ASSERT_EQUAL(std::string("scan_unavailable"), row(id).refusal);
        CPPUNIT_ASSERT(blobs(*closed).empty());

        auto open = start_media({nobody, "clamd_timeout_ms 1000", "clamd_fail_closed false"});
        const std::string id2 = new_upload("scan.pdf", "application/pdf", pdf.size());
        CPPUNIT_ASSERT_EQUAL(200L, put(signed_url(*open, media_url::upload, id2), pdf).status);
        CPPUNIT_ASSERT_EQUAL(std::string("ready"), row(id2).status);
        CPPUNIT_ASSERT_EQUAL(sha256_hex(pdf), joined(blobs(*open)));
        CPPUNIT_ASSERT(open->log().find("warning: upload " + id2 + ": stored unscanned") != std::string::npos);
    }

    void bad_settings_stop_the_start() {
        write_file(env().dir.file("open.secret"), secret + "\n");
        fs::permissions(env().dir.file("open.secret"), fs::perms::others_read, fs::perm_options::add);
        media_service m(env().dir, env().db.conninfo(), secret,
                        {"url_secret_file " + env().dir.file("open.secret"), "storage nowhere", "workers 0",
                         "cors_origins https://ok.example/path", "clamd 127.0.0.1:3310", "unknown_key 1"},
                        "bad");
        CPPUNIT_ASSERT_EQUAL(1, m.start_expecting_exit());
        const std::string log = m.log();
        for (const char* expected : {"url_secret_file", "storage 'nowhere'", "workers '0'", "cors_origins",
                                     "clamd '127.0.0.1:3310'", "unknown option unknown_key"})
            CPPUNIT_ASSERT_MESSAGE(log, log.find(expected) != std::string::npos);
        std::string out;
        CPPUNIT_ASSERT_EQUAL(1, run_command({bin_dir() + "/mqchat-media", "--check", "-c", m.config_path()}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("unknown option unknown_key") != std::string::npos);
    }

    void routes_cors_metrics_and_health() {
        auto m = start_media({"cors_origins https://shop.example https://other.example"});
        const std::string id = new_upload("c.pdf", "application/pdf", pdf.size());
        const auto pre = http_request("OPTIONS", signed_url(*m, media_url::upload, id),
                                      {"Origin: https://shop.example", "Access-Control-Request-Method: PUT"});
        CPPUNIT_ASSERT_EQUAL(204L, pre.status);
        CPPUNIT_ASSERT_EQUAL(std::string("https://shop.example"), pre.headers.at("access-control-allow-origin"));
        CPPUNIT_ASSERT(pre.headers.at("access-control-allow-methods").find("PUT") != std::string::npos);
        const auto elsewhere = http_request("GET", m->base_url() + "/nothing", {"Origin: https://evil.example"});
        CPPUNIT_ASSERT_EQUAL(404L, elsewhere.status);
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), error_code(elsewhere));
        CPPUNIT_ASSERT(elsewhere.headers.count("access-control-allow-origin") == 0);
        CPPUNIT_ASSERT_EQUAL(405L, http_request("DELETE", signed_url(*m, media_url::media, id)).status);
        CPPUNIT_ASSERT_EQUAL(405L, http_request("GET", signed_url(*m, media_url::upload, id)).status);
        CPPUNIT_ASSERT_EQUAL(404L, http_request("GET", m->base_url() + "/media/not-an-id").status);
        // Not ready yet: 404, never the bytes.
        CPPUNIT_ASSERT_EQUAL(404L, http_request("GET", signed_url(*m, media_url::media, id)).status);
        CPPUNIT_ASSERT_EQUAL(200L, put(signed_url(*m, media_url::upload, id), pdf, {"Origin: https://shop.example"}).status);
        const std::string base = "http://127.0.0.1:" + std::to_string(m->metrics_port());
        CPPUNIT_ASSERT(eventually([&] { return http_get(base + "/readyz").status == 200; }));
        CPPUNIT_ASSERT_EQUAL(200L, http_get(base + "/healthz").status);
        const auto metrics = http_get(base + "/metrics");
        CPPUNIT_ASSERT_EQUAL(1.0, sample_value(metrics.body, "mqchat_media_uploads_total{outcome=\"stored\"}"));
        CPPUNIT_ASSERT_EQUAL(static_cast<double>(pdf.size()), sample_value(metrics.body, "mqchat_media_received_bytes_total"));
        CPPUNIT_ASSERT(sample_value(metrics.body, "mqchat_media_queue_depth") == 0.0);
        CPPUNIT_ASSERT(metrics.body.find("mqchat_media_inspect_seconds_bucket") != std::string::npos);
        // One log line per upload outcome, with its id and size, never its bytes.
        CPPUNIT_ASSERT(m->log().find("upload " + id + ": stored (" + std::to_string(pdf.size()) + " bytes received") !=
                       std::string::npos);
        CPPUNIT_ASSERT(m->log().find("%PDF") == std::string::npos);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(media_test);
