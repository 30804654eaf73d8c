#include "olm.hpp"

#include <sodium.h>

namespace e2e {

std::vector<unsigned char> random_bytes(std::size_t n) {
    if (sodium_init() < 0) throw crypto_error("libsodium did not start");
    std::vector<unsigned char> r(n ? n : 1);
    randombytes_buf(r.data(), r.size());
    return r;
}

namespace {
/// libolm writes into (and destroys) the buffers it reads: hand it a copy.
std::vector<char> copy(const std::string& s) {
    return std::vector<char>(s.begin(), s.end());
}

void wipe(std::vector<unsigned char>& v) {
    sodium_memzero(v.data(), v.size());
}
} // namespace

account::account() : memory_(olm_account_size()), ptr_(olm_account(memory_.data())) {}

account::~account() {
    if (!memory_.empty()) olm_clear_account(ptr_);
}

void account::check(std::size_t rc, const char* what) {
    if (rc == olm_error())
        throw crypto_error(std::string(what) + ": " + olm_account_last_error(ptr_));
}

account account::create() {
    account a;
    auto r = random_bytes(olm_create_account_random_length(a.ptr_));
    a.check(olm_create_account(a.ptr_, r.data(), r.size()), "olm_create_account");
    wipe(r);
    return a;
}

account account::unpickle(const std::string& key, const std::string& pickled) {
    account a;
    auto p = copy(pickled);
    a.check(olm_unpickle_account(a.ptr_, key.data(), key.size(), p.data(), p.size()),
            "olm_unpickle_account (wrong MQCHAT_E2E_PASSPHRASE?)");
    return a;
}

std::string account::pickle(const std::string& key) {
    std::string out(olm_pickle_account_length(ptr_), '\0');
    check(olm_pickle_account(ptr_, key.data(), key.size(), out.data(), out.size()),
          "olm_pickle_account");
    return out;
}

std::string account::identity_keys_json() {
    std::string out(olm_account_identity_keys_length(ptr_), '\0');
    out.resize(olm_account_identity_keys(ptr_, out.data(), out.size()));
    check(out.size(), "olm_account_identity_keys");
    return out;
}

std::string account::sign(const std::string& message) {
    std::string out(olm_account_signature_length(ptr_), '\0');
    check(olm_account_sign(ptr_, message.data(), message.size(), out.data(), out.size()),
          "olm_account_sign");
    return out;
}

void account::generate_one_time_keys(std::size_t n) {
    auto r = random_bytes(olm_account_generate_one_time_keys_random_length(ptr_, n));
    check(olm_account_generate_one_time_keys(ptr_, n, r.data(), r.size()),
          "olm_account_generate_one_time_keys");
    wipe(r);
}

std::string account::one_time_keys_json() {
    std::string out(olm_account_one_time_keys_length(ptr_), '\0');
    const std::size_t n = olm_account_one_time_keys(ptr_, out.data(), out.size());
    check(n, "olm_account_one_time_keys");
    out.resize(n);
    return out;
}

void account::generate_fallback_key() {
    auto r = random_bytes(olm_account_generate_fallback_key_random_length(ptr_));
    check(olm_account_generate_fallback_key(ptr_, r.data(), r.size()),
          "olm_account_generate_fallback_key");
    wipe(r);
}

std::string account::unpublished_fallback_key_json() {
    std::string out(olm_account_unpublished_fallback_key_length(ptr_), '\0');
    const std::size_t n = olm_account_unpublished_fallback_key(ptr_, out.data(), out.size());
    check(n, "olm_account_unpublished_fallback_key");
    out.resize(n);
    return out;
}

void account::mark_keys_as_published() {
    olm_account_mark_keys_as_published(ptr_);
}

std::size_t account::max_one_time_keys() {
    return olm_account_max_number_of_one_time_keys(ptr_);
}

session::session() : memory_(olm_session_size()), ptr_(olm_session(memory_.data())) {}

session::~session() {
    if (!memory_.empty()) olm_clear_session(ptr_);
}

void session::check(std::size_t rc, const char* what) {
    if (rc == olm_error())
        throw crypto_error(std::string(what) + ": " + olm_session_last_error(ptr_));
}

session session::outbound(account& a, const std::string& their_identity_key,
                          const std::string& their_one_time_key) {
    session s;
    auto r = random_bytes(olm_create_outbound_session_random_length(s.ptr_));
    s.check(olm_create_outbound_session(s.ptr_, a.get(), their_identity_key.data(),
                                        their_identity_key.size(), their_one_time_key.data(),
                                        their_one_time_key.size(), r.data(), r.size()),
            "olm_create_outbound_session");
    wipe(r);
    return s;
}

session session::inbound(account& a, const std::string& their_identity_key,
                         const std::string& message) {
    session s;
    auto m = copy(message);
    s.check(olm_create_inbound_session_from(s.ptr_, a.get(), their_identity_key.data(),
                                            their_identity_key.size(), m.data(), m.size()),
            "olm_create_inbound_session_from");
    return s;
}

session session::unpickle(const std::string& key, const std::string& pickled) {
    session s;
    auto p = copy(pickled);
    s.check(olm_unpickle_session(s.ptr_, key.data(), key.size(), p.data(), p.size()),
            "olm_unpickle_session");
    return s;
}

std::string session::pickle(const std::string& key) {
    std::string out(olm_pickle_session_length(ptr_), '\0');
    check(olm_pickle_session(ptr_, key.data(), key.size(), out.data(), out.size()),
          "olm_pickle_session");
    return out;
}

bool session::matches_inbound(const std::string& their_identity_key, const std::string& message) {
    auto m = copy(message);
    const std::size_t rc = olm_matches_inbound_session_from(
        ptr_, their_identity_key.data(), their_identity_key.size(), m.data(), m.size());
    return rc == 1;
}

std::pair<int, std::string> session::encrypt(const std::string& plaintext) {
    const int type = static_cast<int>(olm_encrypt_message_type(ptr_));
    auto r = random_bytes(olm_encrypt_random_length(ptr_));
    std::string out(olm_encrypt_message_length(ptr_, plaintext.size()), '\0');
    const std::size_t n = olm_encrypt(ptr_, plaintext.data(), plaintext.size(), r.data(), r.size(),
                                      out.data(), out.size());
    wipe(r);
    check(n, "olm_encrypt");
    out.resize(n);
    return {type, out};
}

std::string session::decrypt(int type, const std::string& message) {
    auto probe = copy(message);
    const std::size_t max = olm_decrypt_max_plaintext_length(ptr_, static_cast<std::size_t>(type),
                                                             probe.data(), probe.size());
    check(max, "olm_decrypt_max_plaintext_length");
    auto m = copy(message);
    std::string out(max, '\0');
    const std::size_t n = olm_decrypt(ptr_, static_cast<std::size_t>(type), m.data(), m.size(),
                                      out.data(), out.size());
    check(n, "olm_decrypt");
    out.resize(n);
    return out;
}

outbound_group::outbound_group()
    : memory_(olm_outbound_group_session_size()), ptr_(olm_outbound_group_session(memory_.data())) {}

outbound_group::~outbound_group() {
    if (!memory_.empty()) olm_clear_outbound_group_session(ptr_);
}

void outbound_group::check(std::size_t rc, const char* what) {
    if (rc == olm_error())
        throw crypto_error(std::string(what) + ": " + olm_outbound_group_session_last_error(ptr_));
}

outbound_group outbound_group::create() {
    outbound_group g;
    auto r = random_bytes(olm_init_outbound_group_session_random_length(g.ptr_));
    g.check(olm_init_outbound_group_session(g.ptr_, r.data(), r.size()),
            "olm_init_outbound_group_session");
    wipe(r);
    return g;
}

outbound_group outbound_group::unpickle(const std::string& key, const std::string& pickled) {
    outbound_group g;
    auto p = copy(pickled);
    g.check(olm_unpickle_outbound_group_session(g.ptr_, key.data(), key.size(), p.data(), p.size()),
            "olm_unpickle_outbound_group_session");
    return g;
}

std::string outbound_group::pickle(const std::string& key) {
    std::string out(olm_pickle_outbound_group_session_length(ptr_), '\0');
    check(olm_pickle_outbound_group_session(ptr_, key.data(), key.size(), out.data(), out.size()),
          "olm_pickle_outbound_group_session");
    return out;
}

std::string outbound_group::id() {
    std::string out(olm_outbound_group_session_id_length(ptr_), '\0');
    const std::size_t n = olm_outbound_group_session_id(
        ptr_, reinterpret_cast<std::uint8_t*>(out.data()), out.size());
    check(n, "olm_outbound_group_session_id");
    out.resize(n);
    return out;
}

std::string outbound_group::session_key() {
    std::string out(olm_outbound_group_session_key_length(ptr_), '\0');
    const std::size_t n = olm_outbound_group_session_key(
        ptr_, reinterpret_cast<std::uint8_t*>(out.data()), out.size());
    check(n, "olm_outbound_group_session_key");
    out.resize(n);
    return out;
}

std::uint32_t outbound_group::message_index() {
    return olm_outbound_group_session_message_index(ptr_);
}

std::string outbound_group::encrypt(const std::string& plaintext) {
    std::string out(olm_group_encrypt_message_length(ptr_, plaintext.size()), '\0');
    const std::size_t n =
        olm_group_encrypt(ptr_, reinterpret_cast<const std::uint8_t*>(plaintext.data()),
                          plaintext.size(), reinterpret_cast<std::uint8_t*>(out.data()), out.size());
    check(n, "olm_group_encrypt");
    out.resize(n);
    return out;
}

inbound_group::inbound_group()
    : memory_(olm_inbound_group_session_size()), ptr_(olm_inbound_group_session(memory_.data())) {}

inbound_group::~inbound_group() {
    if (!memory_.empty()) olm_clear_inbound_group_session(ptr_);
}

void inbound_group::check(std::size_t rc, const char* what) {
    if (rc == olm_error())
        throw crypto_error(std::string(what) + ": " + olm_inbound_group_session_last_error(ptr_));
}

inbound_group inbound_group::from_key(const std::string& session_key) {
    inbound_group g;
    g.check(olm_init_inbound_group_session(
                g.ptr_, reinterpret_cast<const std::uint8_t*>(session_key.data()), session_key.size()),
            "olm_init_inbound_group_session");
    return g;
}

inbound_group inbound_group::unpickle(const std::string& key, const std::string& pickled) {
    inbound_group g;
    auto p = copy(pickled);
    g.check(olm_unpickle_inbound_group_session(g.ptr_, key.data(), key.size(), p.data(), p.size()),
            "olm_unpickle_inbound_group_session");
    return g;
}

std::string inbound_group::pickle(const std::string& key) {
    std::string out(olm_pickle_inbound_group_session_length(ptr_), '\0');
    check(olm_pickle_inbound_group_session(ptr_, key.data(), key.size(), out.data(), out.size()),
          "olm_pickle_inbound_group_session");
    return out;
}

std::string inbound_group::id() {
    std::string out(olm_inbound_group_session_id_length(ptr_), '\0');
    const std::size_t n = olm_inbound_group_session_id(
        ptr_, reinterpret_cast<std::uint8_t*>(out.data()), out.size());
    check(n, "olm_inbound_group_session_id");
    out.resize(n);
    return out;
}

std::uint32_t inbound_group::first_known_index() {
    return olm_inbound_group_session_first_known_index(ptr_);
}

std::pair<std::string, std::uint32_t> inbound_group::decrypt(const std::string& message) {
    auto probe = copy(message);
    const std::size_t max = olm_group_decrypt_max_plaintext_length(
        ptr_, reinterpret_cast<std::uint8_t*>(probe.data()), probe.size());
    check(max, "olm_group_decrypt_max_plaintext_length");
    auto m = copy(message);
    std::string out(max, '\0');
    std::uint32_t index = 0;
    const std::size_t n =
        olm_group_decrypt(ptr_, reinterpret_cast<std::uint8_t*>(m.data()), m.size(),
                          reinterpret_cast<std::uint8_t*>(out.data()), out.size(), &index);
    check(n, "olm_group_decrypt");
    out.resize(n);
    return {out, index};
}

} // namespace e2e
