// Case "media": attachments through the whole client path (issue #17,
// docs/media.md). The real stack: PostgreSQL, mosquitto with the plugin,
// the bridge with media_base_url, and mqchat-media with its shipped
// settings (2 workers, local disk storage, which fsyncs every blob). A
// client asks `media.upload` over MQTT, PUTs the file to the URL it got,
// and waits for the service's reply, which comes after the checks, the
// re-encoding and thumbnail of an image, and the storing.
//
// Files: photos of 4000 × 3000 pixels, JPEG quality 90, about 5 MB each
// (test::make_photo, a gradient with grain; each upload a different
// variant, so that no stored blob is shared), and a 5,000,000-byte
// PDF-like file (a PDF header, then random bytes; only sniffed and stored).
// 100 uploads a run (3 with --quick). Between runs every row and blob is
// removed and the page cache flushed (sync), so each run stores all its
// bytes anew.
//
//  - media_upload_mb_per_s: photo bytes accepted a second, one uploader,
//    each photo the whole way (request → PUT → reply saying thumb: true);
//    _c2_ and _c4_: 2 and 4 uploaders at once (different users; only _c2_
//    with --quick).
//  - media_upload_file_mb_per_s (and _c4_, _c2_ with --quick): the same for
//    the PDF-like file: transfer and storage without the image work.
//  - media_put_file_mb_per_s: the PDF-like file's PUT alone (its grant asked
//    for before the clock starts): the raw HTTP transfer and store.
//  - media_thumbnail_p50_ms / _p99_ms: from the last byte of a photo's body
//    (handed to libcurl) to the reply saying thumb: true, one uploader;
//    baseline: the same for the PDF-like file. media_processing_* and
//    media_inspect_*: the service's own histograms
//    (mqchat_media_processing_seconds: last byte received → reply;
//    mqchat_media_inspect_seconds: sniff, decode, re-encode, thumbnail),
//    read per upload from the change of their _sum on /metrics (exact, where
//    the buckets would only say "between 0.5 and 1 s"; the bucket estimate
//    goes to the notes).
//  - the baseline of every MB/s figure, in the same run on the same disk:
//    media_cp_mb_per_s, `cp` of the same photo N times (into the page cache,
//    as cp does); media_cp_fsync_mb_per_s, each copy followed by `sync FILE`
//    (durable, as the service stores a blob).

#include <curl/curl.h>
#include <unistd.h>

#include <json/json.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "bench.hpp"
#include "common/json.hpp"
#include "support/http_get.hpp"
#include "support/rpc_caller.hpp"
#include "support/servers.hpp"
#include "support/test_images.hpp"

namespace mqchat::bench {

namespace {

namespace fs = std::filesystem;

constexpr const char* url_secret = "mqchat-bench-media-url-secret-0123456789abcdef";
constexpr int photo_w = 4000, photo_h = 3000, photo_quality = 90;
constexpr std::size_t file_bytes = 5'000'000;

double seconds(clock::duration d) { return std::chrono::duration<double>(d).count(); }
double ms(clock::duration d) { return seconds(d) * 1000; }
double mb(double bytes) { return bytes / 1e6; }

/// A PDF header, random bytes, and the end marker: libmagic says
/// application/pdf; the service sniffs it and stores it as it is.
std::string pdf_like(std::size_t size, unsigned seed) {
    std::string out = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";
    const std::string tail = "\n%%EOF\n";
    std::mt19937_64 rng(seed);
    while (out.size() + 8 <= size - tail.size()) {
        const std::uint64_t v = rng();
        out.append(reinterpret_cast<const char*>(&v), 8);
    }
    out.append(size - tail.size() - out.size(), 'x');
    return out + tail;
}

// --------------------------------------------------------------- the PUT

struct body_source {
    const std::string* text;
    std::size_t at = 0;
    clock::time_point last_byte{};
};

size_t read_body(char* buffer, size_t size, size_t n, void* in) {
    auto* src = static_cast<body_source*>(in);
    const std::size_t k = std::min(size * n, src->text->size() - src->at);
    std::memcpy(buffer, src->text->data() + src->at, k);
    src->at += k;
    if (k > 0 && src->at == src->text->size()) src->last_byte = clock::now();
    return k;
}

size_t keep_body(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

struct put_result {
    long status = 0;
    std::string body, error;
    clock::time_point started, last_byte, replied;
};

/// PUT as a client does (libcurl, Expect: 100-continue for a large body),
/// noting when the last byte of the body was handed to libcurl.
put_result timed_put(const std::string& url, const std::string& content_type, const std::string& body) {
    put_result r;
    CURL* c = curl_easy_init();
    if (!c) throw std::runtime_error("curl_easy_init failed");
    const std::string header = "Content-Type: " + content_type;
    curl_slist* headers = curl_slist_append(nullptr, header.c_str());
    body_source src{&body};
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, &read_body);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &keep_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    r.started = clock::now();
    const CURLcode rc = curl_easy_perform(c);
    r.replied = clock::now();
    r.last_byte = src.last_byte;
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    else r.error = curl_easy_strerror(rc);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return r;
}

// ------------------------------------------------------- one upload

struct upload {
    std::string name, type;
    const std::string* bytes;
};

struct sample {
    double grant_ms = 0;    ///< media.upload over MQTT
    double transfer_ms = 0; ///< PUT start → last body byte handed to libcurl
    double reply_ms = 0;    ///< last body byte → the service's reply
    double total_ms = 0;    ///< request asked → reply
};

Json::Value grant(test::rpc_caller& c, std::int64_t conv, const upload& u) {
    const Json::Value g = c.call("media.upload", test::params({{"conv", Json::Int64(conv)},
                                                              {"name", u.name},
                                                              {"type", u.type},
                                                              {"size", Json::Int64(u.bytes->size())}}));
    if (!g.isMember("result")) throw std::runtime_error("media.upload refused: " + json::write(g));
    return g["result"];
}

/// The PUT of a granted upload; throws unless the service stored it (and
/// made a thumbnail, for a photo).
put_result put(const Json::Value& granted, const upload& u) {
    put_result r = timed_put(granted["upload_url"].asString(), u.type, *u.bytes);
    if (r.status != 200) throw std::runtime_error("PUT of " + u.name + ": " + std::to_string(r.status) + " " + r.error + r.body);
    Json::Value reply;
    std::string why;
    if (!json::parse(r.body, reply, why)) throw std::runtime_error("PUT of " + u.name + ": " + why);
    const bool image = u.type.rfind("image/", 0) == 0;
    if (image && !reply["thumb"].asBool()) throw std::runtime_error("no thumbnail for " + u.name + ": " + r.body);
    return r;
}

/// The whole client path: request, PUT, reply.
sample send_one(test::rpc_caller& c, std::int64_t conv, const upload& u) {
    sample s;
    const auto asked = clock::now();
    const Json::Value g = grant(c, conv, u);
    const auto granted = clock::now();
    const put_result r = put(g, u);
    s.grant_ms = ms(granted - asked);
    s.transfer_ms = ms(r.last_byte - r.started);
    s.reply_ms = ms(r.replied - r.last_byte);
    s.total_ms = ms(r.replied - asked);
    return s;
}

// ---------------------------------------------- the service's histograms

struct histogram_view {
    double sum = 0, count = 0;
    std::vector<std::pair<double, double>> buckets; ///< (le, cumulative count), +Inf last
};

histogram_view read_histogram(const std::string& exposition, const std::string& name) {
    histogram_view h;
    h.sum = test::sample_value(exposition, name + "_sum");
    h.count = test::sample_value(exposition, name + "_count");
    const std::string prefix = name + "_bucket{le=\"";
    std::istringstream in(exposition);
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, prefix.size(), prefix) != 0) continue;
        const auto quote = line.find('"', prefix.size());
        const std::string le = line.substr(prefix.size(), quote - prefix.size());
        const double bound = le == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(le);
        h.buckets.emplace_back(bound, std::stod(line.substr(line.rfind(' ') + 1)));
    }
    if (h.sum < 0 || h.count < 0 || h.buckets.empty()) throw std::runtime_error("no histogram " + name + " on /metrics");
    return h;
}

/// What Prometheus' histogram_quantile() says of the observations between
/// two scrapes: linear within the bucket the rank falls in.
double bucket_quantile(const histogram_view& before, const histogram_view& after, double q) {
    const double total = after.count - before.count;
    if (total <= 0) return 0;
    const double rank = q * total;
    double lower = 0, below = 0;
    for (std::size_t i = 0; i < after.buckets.size(); ++i) {
        const double upper = after.buckets[i].first, cum = after.buckets[i].second - before.buckets.at(i).second;
        if (cum >= rank) {
            if (std::isinf(upper)) return lower; // Prometheus answers the highest finite bound
            return lower + (upper - lower) * (rank - below) / std::max(cum - below, 1e-9);
        }
        lower = upper;
        below = cum;
    }
    return lower;
}

struct service_view {
    histogram_view processing, inspect;
};

service_view scrape(const test::media_service& m) {
    const auto got = test::http_get("http://127.0.0.1:" + std::to_string(m.metrics_port()) + "/metrics");
    if (got.status != 200) throw std::runtime_error("mqchat-media's /metrics answered " + std::to_string(got.status));
    return {read_histogram(got.body, "mqchat_media_processing_seconds"),
            read_histogram(got.body, "mqchat_media_inspect_seconds")};
}

// ------------------------------------------------------------- the runs

struct sequential_run {
    std::vector<sample> samples;
    std::vector<double> processing_ms, inspect_ms; ///< the service's, per upload
    service_view before, after;
    double bytes = 0, seconds = 0; ///< seconds: the uploads' own time, scrapes left out
    double service_cpu_ms = 0;     ///< mqchat-media's CPU time per upload
};

/// One uploader, one file after another; /metrics read between them.
sequential_run run_sequential(test::rpc_caller& c, std::int64_t conv, const std::vector<upload>& files,
                              const test::media_service& m) {
    sequential_run r;
    r.before = scrape(m);
    service_view last = r.before;
    const double cpu0 = cpu_seconds(m.pid());
    for (const upload& u : files) {
        const sample s = send_one(c, conv, u);
        const service_view now = scrape(m);
        if (now.processing.count != last.processing.count + 1)
            throw std::runtime_error("the service's histogram did not count exactly this upload");
        r.processing_ms.push_back((now.processing.sum - last.processing.sum) * 1000);
        r.inspect_ms.push_back((now.inspect.sum - last.inspect.sum) * 1000);
        last = now;
        r.samples.push_back(s);
        r.bytes += static_cast<double>(u.bytes->size());
        r.seconds += s.total_ms / 1000;
    }
    r.after = last;
    r.service_cpu_ms = (cpu_seconds(m.pid()) - cpu0) * 1000 / static_cast<double>(files.size());
    return r;
}

struct concurrent_run {
    std::vector<sample> samples;
    double bytes = 0, seconds = 0; ///< seconds: wall clock, first request → last reply
    double service_cores = 0;      ///< mqchat-media's CPU seconds per second meanwhile
};

/// `callers.size()` uploaders at once, each taking the next file.
concurrent_run run_concurrent(std::vector<std::unique_ptr<test::rpc_caller>>& callers, std::int64_t conv,
                              const std::vector<upload>& files, const test::media_service& m) {
    concurrent_run r;
    const double cpu0 = cpu_seconds(m.pid());
    std::atomic<std::size_t> next{0};
    std::mutex lock;
    std::string failure;
    const auto t0 = clock::now();
    std::vector<std::thread> uploaders;
    for (auto& c : callers)
        uploaders.emplace_back([&, caller = c.get()] {
            try {
                for (std::size_t i = next++; i < files.size(); i = next++) {
                    const sample s = send_one(*caller, conv, files[i]);
                    const std::lock_guard<std::mutex> hold(lock);
                    r.samples.push_back(s);
                    r.bytes += static_cast<double>(files[i].bytes->size());
                }
            } catch (const std::exception& e) {
                const std::lock_guard<std::mutex> hold(lock);
                failure = e.what();
            }
        });
    for (auto& t : uploaders) t.join();
    r.seconds = seconds(clock::now() - t0);
    r.service_cores = (cpu_seconds(m.pid()) - cpu0) / r.seconds;
    if (!failure.empty()) throw std::runtime_error(failure);
    return r;
}

/// `cp` of `file` n times into `dir` on the same disk (and `sync FILE`
/// after each copy, when `durable`), in one shell loop: one fork of this
/// process (which holds the upload files, a GB in the full run, so each
/// fork costs tens of ms) rather than one per copy. The copies are removed.
double cp_mb_per_s(const std::string& file, const std::string& dir, int n, bool durable) {
    fs::create_directories(dir);
    const std::string loop = std::string("i=0; while [ $i -lt $3 ]; do i=$((i+1)); cp \"$1\" \"$2/copy-$i\"") +
                             (durable ? " && sync \"$2/copy-$i\"" : "") + " || exit 1; done";
    std::string out;
    const auto t0 = clock::now();
    if (test::run_command({"sh", "-c", loop, "sh", file, dir, std::to_string(n)}, out) != 0)
        throw std::runtime_error("cp: " + out);
    const double took = seconds(clock::now() - t0);
    fs::remove_all(dir);
    ::sync();
    return mb(static_cast<double>(fs::file_size(file)) * n) / took;
}

/// Every upload row and stored blob removed (what the sweeper does to
/// uploads no message took), and dirty pages written out: the next run
/// stores all its bytes anew, on a quiet disk.
void clean(pg::connection& db, const test::media_service& m) {
    db.exec("DELETE FROM media");
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(m.data_dir() + "/blobs", ec))
        if (e.is_directory() && e.path().filename().string().size() == 2) fs::remove_all(e.path(), ec);
    ::sync();
}

double mean(const std::vector<double>& v) {
    double t = 0;
    for (double x : v) t += x;
    return v.empty() ? 0 : t / static_cast<double>(v.size());
}

template <class F>
std::vector<double> pick(const std::vector<sample>& samples, F f) {
    std::vector<double> out;
    for (const auto& s : samples) out.push_back(f(s));
    return out;
}

/// The first three fields of /proc/loadavg: the machine is shared, and the
/// image work is CPU-bound.
std::string load_average() {
    std::string line = test::read_file("/proc/loadavg");
    std::istringstream in(line);
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c;
}

std::string fixed(double v, int digits = 1) {
    std::ostringstream os;
    os.setf(std::ios::fixed);
    os.precision(digits);
    os << v;
    return os.str();
}

/// "grant 4.1, transfer 9.8, reply 812 ms (means)".
std::string breakdown(const std::vector<sample>& s) {
    return "grant " + fixed(mean(pick(s, [](const sample& x) { return x.grant_ms; }))) + ", transfer " +
           fixed(mean(pick(s, [](const sample& x) { return x.transfer_ms; }))) + ", reply " +
           fixed(mean(pick(s, [](const sample& x) { return x.reply_ms; }))) + " ms (means of " +
           std::to_string(s.size()) + ")";
}

} // namespace

void run_media(const settings& s) {
    const int n = s.quick ? 3 : 100;                              // uploads per run
    const std::vector<int> concurrency = s.quick ? std::vector<int>{2} : std::vector<int>{2, 4};
    const std::string load_before = load_average();
    test::temp_dir dir("bench-media");
    test::pg_cluster db(dir);
    test::admin_ok(db.conninfo(), {"migrate"});
    test::admin_ok(db.conninfo(), {"user", "add", "mqchat-bridge", "--password", bridge_password, "--bridge"});
    std::int64_t conv = 0;
    {
        pg::connection c(db.conninfo());
        add_users(c, "u", 4, cheap_hash("pw"));
        conv = add_conversation(c, {"u0", "u1", "u2", "u3"});
    }
    test::broker mqtt(dir, db.conninfo(), {}, "mosquitto");
    mqtt.start();
    test::media_service media(dir, db.conninfo(), url_secret);
    media.start();
    test::bridge store(dir, db.conninfo(), mqtt.port(), bridge_password, "bridge",
                       {"media_base_url " + media.base_url() + "/", "media_url_secret_file " + dir.file("media.secret"),
                        "media_max_bytes 30000000", "media_types image/*, application/pdf",
                        "media_quota_bytes_per_day 1000000000000"});
    store.start();
    std::vector<std::unique_ptr<test::rpc_caller>> callers;
    for (int i = 0; i < 4; ++i) callers.push_back(std::make_unique<test::rpc_caller>(mqtt.port(), numbered("u", i), "pw"));

    // The disk's baseline first, with the first photo, while this process is
    // still small; then the other files, made before any upload's clock starts.
    const auto made = clock::now();
    std::vector<std::string> photo_bytes, file_bytes_of;
    photo_bytes.push_back(test::make_photo(photo_w, photo_h, photo_quality, 0));
    test::write_file(dir.file("photo.jpg"), photo_bytes[0]);
    ::sync();
    const double cp = cp_mb_per_s(dir.file("photo.jpg"), dir.file("cp"), n, false);
    const double cp_fsync = cp_mb_per_s(dir.file("photo.jpg"), dir.file("cp"), n, true);
    report("media_cp_mb_per_s", cp, "MB/s", std::nullopt, "cp of the 5 MB photo, same disk (page cache)");
    report("media_cp_fsync_mb_per_s", cp_fsync, "MB/s", std::nullopt, "cp then sync FILE: durable, as a blob is stored");
    for (int i = 1; i < n; ++i) photo_bytes.push_back(test::make_photo(photo_w, photo_h, photo_quality, i));
    for (int i = 0; i < n; ++i) file_bytes_of.push_back(pdf_like(file_bytes, static_cast<unsigned>(i + 1)));
    std::vector<upload> photos, files;
    double photo_total = 0;
    for (int i = 0; i < n; ++i) {
        photos.push_back({"IMG_" + std::to_string(1000 + i) + ".jpg", "image/jpeg", &photo_bytes[i]});
        files.push_back({"report-" + std::to_string(i) + ".pdf", "application/pdf", &file_bytes_of[i]});
        photo_total += static_cast<double>(photo_bytes[i].size());
    }
    note(s, "media: " + std::to_string(n) + " photos of " + std::to_string(photo_w) + "x" + std::to_string(photo_h) +
                " at JPEG quality " + std::to_string(photo_quality) + ", " + fixed(mb(photo_total / n), 2) +
                " MB on average (the first: " + std::to_string(photo_bytes[0].size()) + " bytes); PDF-like files of " + std::to_string(file_bytes) + " bytes; made in " +
                fixed(seconds(clock::now() - made)) + " s");
    pg::connection admin_db(db.conninfo());

    // The raw PUT: transfer and store, no request, no image work.
    clean(admin_db, media);
    double put_bytes = 0, put_seconds = 0;
    std::vector<double> put_reply;
    for (const upload& u : files) {
        const Json::Value g = grant(*callers[0], conv, u);
        const put_result r = put(g, u);
        put_bytes += static_cast<double>(u.bytes->size());
        put_seconds += seconds(r.replied - r.started);
        put_reply.push_back(ms(r.replied - r.last_byte));
    }
    report("media_put_file_mb_per_s", mb(put_bytes) / put_seconds, "MB/s", cp,
           "PUT of the 5 MB PDF-like file alone (grant before the clock); baseline: cp");

    // The PDF-like file the whole way: transfer and storage, no image work.
    clean(admin_db, media);
    sequential_run file_seq = run_sequential(*callers[0], conv, files, media);
    report("media_upload_file_mb_per_s", mb(file_seq.bytes) / file_seq.seconds, "MB/s", cp,
           "5 MB PDF-like file, request → PUT → reply, one uploader; baseline: cp");
    note(s, "media: file, one uploader: " + breakdown(file_seq.samples) + "; service: processing p50 " +
                fixed(percentile(file_seq.processing_ms, 50)) + " ms, sniff p50 " +
                fixed(percentile(file_seq.inspect_ms, 50)) + " ms; PUT alone: reply p50 " +
                fixed(percentile(put_reply, 50)) + " ms; mqchat-media's CPU " + fixed(file_seq.service_cpu_ms) +
                " ms per file");

    // Photos the whole way, one uploader: throughput and thumbnail latency.
    clean(admin_db, media);
    sequential_run photo_seq = run_sequential(*callers[0], conv, photos, media);
    std::vector<double> thumb = pick(photo_seq.samples, [](const sample& x) { return x.reply_ms; });
    std::vector<double> file_reply = pick(file_seq.samples, [](const sample& x) { return x.reply_ms; });
    report("media_upload_mb_per_s", mb(photo_seq.bytes) / photo_seq.seconds, "MB/s", cp,
           "5 MB photo, request → PUT → reply with thumb, one uploader; baseline: cp");
    report("media_upload_photos_per_s", static_cast<double>(photo_seq.samples.size()) / photo_seq.seconds, "1/s");
    std::vector<double> thumb50 = thumb, file50 = file_reply;
    report("media_thumbnail_p50_ms", percentile(thumb50, 50), "ms", percentile(file50, 50),
           "last body byte → reply with thumb: true; baseline: the same for the PDF-like file");
    report("media_thumbnail_p99_ms", percentile(thumb, 99), "ms", percentile(file_reply, 99));
    std::vector<double> proc50 = photo_seq.processing_ms, insp50 = photo_seq.inspect_ms;
    std::vector<double> fproc50 = file_seq.processing_ms, fproc = file_seq.processing_ms;
    std::vector<double> finsp50 = file_seq.inspect_ms, finsp = file_seq.inspect_ms;
    report("media_processing_p50_ms", percentile(proc50, 50), "ms", percentile(fproc50, 50),
           "service: last byte received → reply (mqchat_media_processing_seconds); baseline: the file");
    report("media_processing_p99_ms", percentile(photo_seq.processing_ms, 99), "ms", percentile(fproc, 99));
    report("media_inspect_p50_ms", percentile(insp50, 50), "ms", percentile(finsp50, 50),
           "service: inspection (mqchat_media_inspect_seconds); baseline: sniffing the file");
    report("media_inspect_p99_ms", percentile(photo_seq.inspect_ms, 99), "ms", percentile(finsp, 99));
    note(s, "media: photo, one uploader: " + breakdown(photo_seq.samples) + "; the service's buckets say processing p50 " +
                fixed(bucket_quantile(photo_seq.before.processing, photo_seq.after.processing, 0.5) * 1000, 0) +
                " ms, p99 " + fixed(bucket_quantile(photo_seq.before.processing, photo_seq.after.processing, 0.99) * 1000, 0) +
                " ms; inspect p50 " + fixed(bucket_quantile(photo_seq.before.inspect, photo_seq.after.inspect, 0.5) * 1000, 0) +
                " ms, p99 " + fixed(bucket_quantile(photo_seq.before.inspect, photo_seq.after.inspect, 0.99) * 1000, 0) +
                " ms (histogram_quantile over the buckets)");
    note(s, "media: photo, one uploader: mqchat-media's CPU " + fixed(photo_seq.service_cpu_ms) +
                " ms per photo; store and commit (processing − inspect) p50 " +
                fixed([&] {
                    std::vector<double> rest;
                    for (std::size_t i = 0; i < photo_seq.processing_ms.size(); ++i)
                        rest.push_back(photo_seq.processing_ms[i] - photo_seq.inspect_ms[i]);
                    return percentile(rest, 50);
                }()) + " ms");

    // Several uploaders at once.
    for (int c : concurrency) {
        std::vector<std::unique_ptr<test::rpc_caller>> some;
        for (int i = 0; i < c; ++i) some.push_back(std::move(callers[i]));
        clean(admin_db, media);
        concurrent_run photo_c = run_concurrent(some, conv, photos, media);
        std::vector<double> reply = pick(photo_c.samples, [](const sample& x) { return x.reply_ms; });
        report("media_upload_c" + std::to_string(c) + "_mb_per_s", mb(photo_c.bytes) / photo_c.seconds, "MB/s", cp,
               std::to_string(c) + " uploaders of 5 MB photos at once; baseline: cp");
        note(s, "media: photo, " + std::to_string(c) + " uploaders: " + breakdown(photo_c.samples) + "; reply p99 " +
                    fixed(percentile(reply, 99), 0) + " ms; mqchat-media busy " + fixed(photo_c.service_cores, 2) +
                    " cores");
        if (c == concurrency.back()) {
            clean(admin_db, media);
            concurrent_run file_c = run_concurrent(some, conv, files, media);
            report("media_upload_file_c" + std::to_string(c) + "_mb_per_s", mb(file_c.bytes) / file_c.seconds, "MB/s", cp,
                   std::to_string(c) + " uploaders of the 5 MB PDF-like file at once; baseline: cp");
            note(s, "media: file, " + std::to_string(c) + " uploaders: " + breakdown(file_c.samples) +
                        "; mqchat-media busy " + fixed(file_c.service_cores, 2) + " cores");
        }
        for (int i = 0; i < c; ++i) callers[i] = std::move(some[i]);
    }
    clean(admin_db, media);
    note(s, "media: load average " + load_before + " before, " + load_average() + " after (" +
                std::to_string(std::thread::hardware_concurrency()) + " cores)");
}

} // namespace mqchat::bench
