#include "download.hpp"

#include <charconv>

#include "common/log.hpp"
#include "common/media_url.hpp"
#include "inspect/inspect.hpp"

namespace mqchat::media {

namespace {

bool parse_u64(std::string_view text, std::uint64_t& out) {
    if (text.empty()) return false;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.erase(0, 1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
    return s;
}

} // namespace

std::string attachment_disposition(const std::string& declared_name) {
    std::string ascii, encoded;
    static const char digits[] = "0123456789ABCDEF";
    for (unsigned char ch : declared_name) {
        const bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        // RFC 8187 attr-char: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
        if (alnum || std::string_view("!#$&+-.^_`|~").find(static_cast<char>(ch)) != std::string_view::npos) {
            encoded += static_cast<char>(ch);
        } else {
            encoded += '%';
            encoded += digits[ch >> 4];
            encoded += digits[ch & 15];
        }
        ascii += alnum || ch == '.' || ch == '-' || ch == '_' ? static_cast<char>(ch) : '_';
    }
    while (!ascii.empty() && ascii.front() == '.') ascii.erase(0, 1); // no hidden or "..": names
    if (ascii.empty()) ascii = "file";
    return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + encoded;
}

std::optional<byte_range> parse_range(const std::string& header, std::uint64_t size, bool& unsatisfiable) {
    unsatisfiable = false;
    const std::string h = trimmed(header);
    if (h.rfind("bytes=", 0) != 0) return std::nullopt;
    const std::string spec = trimmed(h.substr(6));
    if (spec.find(',') != std::string::npos) return std::nullopt; // several ranges: send it all
    const auto dash = spec.find('-');
    if (dash == std::string::npos) return std::nullopt;
    const std::string a = trimmed(spec.substr(0, dash)), b = trimmed(spec.substr(dash + 1));
    std::uint64_t first = 0, last = 0;
    if (a.empty()) { // the last n bytes
        if (!parse_u64(b, last) || last == 0) {
            unsatisfiable = !b.empty() && parse_u64(b, last);
            return std::nullopt;
        }
        if (size == 0) {
            unsatisfiable = true;
            return std::nullopt;
        }
        const std::uint64_t n = std::min(last, size);
        return byte_range{size - n, n};
    }
    if (!parse_u64(a, first)) return std::nullopt;
    if (b.empty()) {
        last = size == 0 ? 0 : size - 1;
    } else if (!parse_u64(b, last) || last < first) {
        return std::nullopt;
    }
    if (first >= size) {
        unsatisfiable = true;
        return std::nullopt;
    }
    last = std::min(last, size - 1);
    return byte_range{first, last - first + 1};
}

reply download(service& svc, const download_request& rq) {
    const std::string_view purpose = rq.thumb ? media_url::thumb : media_url::media;
    switch (media_url::verify(svc.config.url_secret, purpose, rq.id, rq.exp, rq.sig, unix_now())) {
    case media_url::check::bad_signature:
        svc.metrics.download("bad_signature");
        return error_reply(403, "bad_signature", "the URL's signature does not match");
    case media_url::check::expired:
        svc.metrics.download("expired");
        return error_reply(403, "expired", "the URL has expired: ask for a new one");
    case media_url::check::ok:
        break;
    }
    struct found {
        bool ok = false;
        std::string mime, sha256, name;
        std::uint64_t size = 0;
    } f;
    try {
        f = svc.db.with([&](pg::connection& db) {
            const auto r = db.exec(
                "SELECT m.mime, m.size, m.sha256, m.thumb_sha256, m.thumb_mime, m.declared_name"
                "  FROM media m"
                " WHERE m.id = $1 AND m.status = 'ready' AND m.conv_id IS NOT NULL"
                "   AND (m.seq IS NULL OR EXISTS (SELECT 1 FROM messages x"
                "                                  WHERE x.conv_id = m.conv_id AND x.seq = m.seq AND NOT x.deleted))",
                {rq.id});
            found out;
            if (r.rows() != 1) return out;
            if (rq.thumb) {
                if (r.is_null(0, 3)) return out;
                out.sha256 = r.str(0, 3);
                out.mime = r.str(0, 4);
            } else {
                out.sha256 = r.str(0, 2);
                out.mime = r.str(0, 0);
                out.size = static_cast<std::uint64_t>(r.int64(0, 1));
            }
            out.name = r.str(0, 5);
            out.ok = true;
            return out;
        });
    } catch (const pg::error& e) {
        log::warning() << "download " << rq.id << ": database: " << e.what();
        svc.metrics.download("error");
        reply r = error_reply(503, "unavailable", "the media service cannot reach its database: try again shortly");
        r.headers.emplace_back("Retry-After", "5");
        return r;
    }
    if (!f.ok) {
        svc.metrics.download("not_found");
        return error_reply(404, "not_found", rq.thumb ? "no such thumbnail" : "no such media");
    }

    reply r;
    const std::int64_t exp = std::stoll(rq.exp); // verified above
    const std::string etag = "\"" + f.sha256 + "\"";
    r.headers = {{"Content-Type", f.mime},
                 {"X-Content-Type-Options", "nosniff"},
                 {"Content-Security-Policy", "default-src 'none'; sandbox"},
                 {"Content-Disposition",
                  safe_inline_image(f.mime) ? std::string("inline") : attachment_disposition(f.name)},
                 {"Cache-Control", "private, max-age=" + std::to_string(std::max<std::int64_t>(0, exp - unix_now()))},
                 {"Cross-Origin-Resource-Policy", "cross-origin"},
                 {"ETag", etag},
                 {"Accept-Ranges", "bytes"}};
    if (rq.if_none_match && (*rq.if_none_match == etag || *rq.if_none_match == "*")) {
        r.status = 304;
        svc.metrics.download("not_modified");
        return r;
    }
    try {
        std::uint64_t offset = 0, length = 0;
        if ((rq.head || rq.range) && f.size == 0) {
            // A thumbnail's size is not in the row: the storage knows.
            auto probe = svc.store.open(f.sha256, 0, 0);
            if (!probe) throw storage_error("blob " + f.sha256 + " is missing");
            f.size = probe->length();
        }
        if (rq.range) {
            bool unsatisfiable = false;
            if (const auto range = parse_range(*rq.range, f.size, unsatisfiable)) {
                offset = range->first;
                length = range->length;
                r.status = 206;
                r.headers.emplace_back("Content-Range", "bytes " + std::to_string(offset) + "-" +
                                                            std::to_string(offset + length - 1) + "/" +
                                                            std::to_string(f.size));
            } else if (unsatisfiable) {
                reply bad = error_reply(416, "range_not_satisfiable", "the range is outside the file");
                bad.headers.emplace_back("Content-Range", "bytes */" + std::to_string(f.size));
                svc.metrics.download("range_not_satisfiable");
                return bad;
            }
        }
        r.streamed = true;
        r.blob_size = r.status == 206 ? length : f.size;
        if (!rq.head) {
            r.blob = svc.store.open(f.sha256, offset, r.status == 206 ? length : 0);
            if (!r.blob) throw storage_error("blob " + f.sha256 + " is missing");
            r.blob_size = r.blob->length();
        }
    } catch (const storage_error& e) {
        log::error() << "download " << rq.id << ": " << e.what();
        svc.metrics.download("error");
        reply bad = error_reply(503, "unavailable", "the media service cannot read the file now: try again shortly");
        bad.headers.emplace_back("Retry-After", "5");
        return bad;
    }
    svc.metrics.download(r.status == 206 ? "partial" : "ok");
    return r;
}

} // namespace mqchat::media
