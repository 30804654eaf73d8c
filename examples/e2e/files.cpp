#include "files.hpp"

#include "base64.hpp"
#include "olm.hpp"

#include <sodium.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <vector>

namespace e2e {

namespace {

constexpr std::size_t chunk = 64 * 1024;

std::string hex(const unsigned char* p, std::size_t n) {
    std::string out(n * 2 + 1, '\0');
    sodium_bin2hex(out.data(), out.size(), p, n);
    out.resize(n * 2);
    return out;
}

std::string sha256_of(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw crypto_error("cannot read " + path);
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    std::vector<char> buf(chunk);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(buf.data()),
                                  static_cast<unsigned long long>(in.gcount()));
    }
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, digest);
    return hex(digest, sizeof digest);
}

std::string base_name(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

} // namespace

Json::Value seal_file(const std::string& path, const std::string& sealed_path) {
    if (sodium_init() < 0) throw crypto_error("libsodium did not start");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw crypto_error("cannot read " + path);
    std::ofstream out(sealed_path, std::ios::binary | std::ios::trunc);
    if (!out) throw crypto_error("cannot write " + sealed_path);
    unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    unsigned char header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
    crypto_secretstream_xchacha20poly1305_keygen(key);
    crypto_secretstream_xchacha20poly1305_state st;
    crypto_secretstream_xchacha20poly1305_init_push(&st, header, key);
    std::vector<unsigned char> plain(chunk), sealed(chunk + crypto_secretstream_xchacha20poly1305_ABYTES);
    std::uint64_t size = 0;
    // Read one chunk ahead, so that the last one (possibly empty) carries the final tag.
    in.read(reinterpret_cast<char*>(plain.data()), chunk);
    std::size_t got = static_cast<std::size_t>(in.gcount());
    for (;;) {
        std::vector<unsigned char> next(chunk);
        std::size_t next_got = 0;
        if (in) {
            in.read(reinterpret_cast<char*>(next.data()), chunk);
            next_got = static_cast<std::size_t>(in.gcount());
        }
        const bool last = next_got == 0;
        unsigned long long n = 0;
        crypto_secretstream_xchacha20poly1305_push(
            &st, sealed.data(), &n, plain.data(), got, nullptr, 0,
            last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
        out.write(reinterpret_cast<const char*>(sealed.data()), static_cast<std::streamsize>(n));
        size += got;
        if (last) break;
        plain.swap(next);
        got = next_got;
    }
    out.close();
    if (!out) throw crypto_error("cannot write " + sealed_path);
    Json::Value info;
    info["name"] = base_name(path);
    info["size"] = Json::UInt64(size);
    info["key"] = to_base64(key, sizeof key);
    info["header"] = to_base64(header, sizeof header);
    info["sha256"] = sha256_of(sealed_path);
    sodium_memzero(key, sizeof key);
    return info;
}

void open_file(const Json::Value& info, const std::string& sealed_path, const std::string& out_path) {
    if (sodium_init() < 0) throw crypto_error("libsodium did not start");
    if (sha256_of(sealed_path) != info["sha256"].asString())
        throw crypto_error("the file downloaded is not the one the message names (SHA-256 differs)");
    std::vector<unsigned char> key, header;
    if (!from_base64(info["key"].asString(), key) || key.size() != crypto_secretstream_xchacha20poly1305_KEYBYTES ||
        !from_base64(info["header"].asString(), header) ||
        header.size() != crypto_secretstream_xchacha20poly1305_HEADERBYTES)
        throw crypto_error("the message's file key is not one");
    crypto_secretstream_xchacha20poly1305_state st;
    if (crypto_secretstream_xchacha20poly1305_init_pull(&st, header.data(), key.data()) != 0)
        throw crypto_error("the file's header does not open");
    std::ifstream in(sealed_path, std::ios::binary);
    const std::string tmp = out_path + ".part";
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!in || !out) throw crypto_error("cannot read " + sealed_path + " or write " + tmp);
    std::vector<unsigned char> sealed(chunk + crypto_secretstream_xchacha20poly1305_ABYTES), plain(chunk);
    bool final_seen = false;
    auto fail = [&](const std::string& why) {
        out.close();
        std::remove(tmp.c_str());
        throw crypto_error(why);
    };
    while (!final_seen) {
        in.read(reinterpret_cast<char*>(sealed.data()), static_cast<std::streamsize>(sealed.size()));
        const auto got = static_cast<std::size_t>(in.gcount());
        if (got == 0) fail("the file ends before its last part: cut short");
        unsigned long long n = 0;
        unsigned char tag = 0;
        if (crypto_secretstream_xchacha20poly1305_pull(&st, plain.data(), &n, &tag, sealed.data(), got, nullptr,
                                                       0) != 0)
            fail("a part of the file does not open: damaged or not this key's");
        out.write(reinterpret_cast<const char*>(plain.data()), static_cast<std::streamsize>(n));
        final_seen = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    }
    if (in.peek() != std::char_traits<char>::eof()) fail("the file goes on after its last part");
    out.close();
    if (!out || std::rename(tmp.c_str(), out_path.c_str()) != 0) fail("cannot write " + out_path);
}

} // namespace e2e
