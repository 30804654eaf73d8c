#include "state.hpp"

#include "base64.hpp"

#include <json/json.h>
#include <sodium.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace e2e {

namespace {

std::string write_json(const Json::Value& v) {
    Json::StreamWriterBuilder w;
    w["indentation"] = " ";
    return Json::writeString(w, v);
}

std::vector<unsigned char> bytes_of(const Json::Value& v, const char* what) {
    std::vector<unsigned char> out;
    if (!v.isString() || !from_base64(v.asString(), out))
        throw crypto_error(std::string("state file: bad ") + what);
    return out;
}

} // namespace

void device_state::derive(const std::string& passphrase) {
    if (sodium_init() < 0) throw crypto_error("libsodium did not start");
    unsigned char k[crypto_secretbox_KEYBYTES];
    if (crypto_pwhash(k, sizeof k, passphrase.data(), passphrase.size(), salt_.data(),
                      crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        throw crypto_error("crypto_pwhash: out of memory");
    key_.assign(reinterpret_cast<const char*>(k), sizeof k);
    sodium_memzero(k, sizeof k);
}

device_state device_state::create(const std::string& path, const std::string& user,
                                  const std::string& device, const std::string& passphrase) {
    if (access(path.c_str(), F_OK) == 0)
        throw crypto_error(
            path + " exists: this device has an account already (remove the file to start over)");
    device_state s;
    s.path_ = path;
    s.user = user;
    s.device = device;
    s.salt_ = random_bytes(crypto_pwhash_SALTBYTES);
    s.derive(passphrase);
    s.olm = account::create();
    return s;
}

device_state device_state::load(const std::string& path, const std::string& passphrase) {
    std::ifstream in(path);
    if (!in) throw crypto_error("cannot read " + path + " (run e2e-init first)");
    Json::Value v;
    Json::CharReaderBuilder b;
    std::string errs;
    if (!Json::parseFromStream(b, in, &v, &errs) || v["version"] != 1)
        throw crypto_error(path + ": not a state file");
    device_state s;
    s.path_ = path;
    s.user = v["user"].asString();
    s.device = v["device"].asString();
    s.salt_ = bytes_of(v["salt"], "salt");
    if (s.salt_.size() != crypto_pwhash_SALTBYTES) throw crypto_error("state file: bad salt");
    s.derive(passphrase);
    s.olm = account::unpickle(s.key_, v["account"].asString());
    for (const auto& peer : v["sessions"].getMemberNames())
        for (const auto& p : v["sessions"][peer])
            s.sessions[peer].push_back(session::unpickle(s.key_, p.asString()));
    for (const auto& peer : v["known"].getMemberNames())
        s.known[peer] = {v["known"][peer]["signing_key"].asString(),
                         v["known"][peer]["identity_key"].asString()};
    for (const auto& conv : v["outbound"].getMemberNames()) {
        const Json::Value& o = v["outbound"][conv];
        group_outbound g{outbound_group::unpickle(s.key_, o["session"].asString()), {},
                         o["messages"].asInt()};
        for (const auto& d : o["shared_with"])
            g.shared_with.insert(d.asString());
        s.outbound.emplace(conv, std::move(g));
    }
    for (const auto& k : v["inbound"].getMemberNames())
        s.inbound.emplace(k, inbound_group::unpickle(s.key_, v["inbound"][k].asString()));
    for (const auto& u : v["verified"].getMemberNames())
        for (const auto& d : v["verified"][u])
            s.verified[u].insert(d.asString());
    for (const auto& k : v["group_seen"].getMemberNames())
        s.group_seen[k] = v["group_seen"][k].asString();
    const auto nonce = bytes_of(v["read"]["nonce"], "nonce");
    const auto box = bytes_of(v["read"]["box"], "box");
    if (nonce.size() != crypto_secretbox_NONCEBYTES || box.size() < crypto_secretbox_MACBYTES)
        throw crypto_error("state file: bad box");
    std::string plain(box.size() - crypto_secretbox_MACBYTES, '\0');
    if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()), box.data(),
                                   box.size(), nonce.data(),
                                   reinterpret_cast<const unsigned char*>(s.key_.data())) != 0)
        throw crypto_error("state file: the messages do not open (another passphrase?)");
    Json::Value read;
    std::istringstream rin(plain);
    Json::parseFromStream(b, rin, &read, &errs);
    for (const auto& k : read.getMemberNames())
        s.read[k] = read[k].asString();
    sodium_memzero(plain.data(), plain.size());
    return s;
}

void device_state::save() {
    Json::Value v;
    v["version"] = 1;
    v["user"] = user;
    v["device"] = device;
    v["salt"] = to_base64(salt_.data(), salt_.size());
    v["account"] = olm.pickle(key_);
    v["sessions"] = Json::Value(Json::objectValue);
    for (auto& [peer, list] : sessions)
        for (auto& s : list)
            v["sessions"][peer].append(s.pickle(key_));
    v["known"] = Json::Value(Json::objectValue);
    for (const auto& [peer, k] : known) {
        v["known"][peer]["signing_key"] = k.signing_key;
        v["known"][peer]["identity_key"] = k.identity_key;
    }
    v["outbound"] = Json::Value(Json::objectValue);
    for (auto& [conv, g] : outbound) {
        Json::Value& o = v["outbound"][conv];
        o["session"] = g.session.pickle(key_);
        o["messages"] = g.messages;
        o["shared_with"] = Json::Value(Json::arrayValue);
        for (const auto& d : g.shared_with)
            o["shared_with"].append(d);
    }
    v["inbound"] = Json::Value(Json::objectValue);
    for (auto& [k, g] : inbound)
        v["inbound"][k] = g.pickle(key_);
    v["verified"] = Json::Value(Json::objectValue);
    for (const auto& [u, devices] : verified)
        for (const auto& d : devices)
            v["verified"][u].append(d);
    v["group_seen"] = Json::Value(Json::objectValue);
    for (const auto& [k, at] : group_seen)
        v["group_seen"][k] = at;
    Json::Value read_json(Json::objectValue);
    for (const auto& [k, text] : read)
        read_json[k] = text;
    std::string plain = write_json(read_json);
    const auto nonce = random_bytes(crypto_secretbox_NONCEBYTES);
    std::vector<unsigned char> box(plain.size() + crypto_secretbox_MACBYTES);
    crypto_secretbox_easy(box.data(), reinterpret_cast<const unsigned char*>(plain.data()),
                          plain.size(), nonce.data(),
                          reinterpret_cast<const unsigned char*>(key_.data()));
    sodium_memzero(plain.data(), plain.size());
    v["read"]["nonce"] = to_base64(nonce.data(), nonce.size());
    v["read"]["box"] = to_base64(box.data(), box.size());

    const std::string text = write_json(v) + "\n";
    const std::string tmp = path_ + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw crypto_error("cannot write " + tmp);
    fchmod(fd, 0600);
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n <= 0) {
            ::close(fd);
            throw crypto_error("cannot write " + tmp);
        }
        done += static_cast<std::size_t>(n);
    }
    if (fsync(fd) != 0 || ::close(fd) != 0 || std::rename(tmp.c_str(), path_.c_str()) != 0)
        throw crypto_error("cannot write " + path_);
}

} // namespace e2e
