#include "apns.hpp"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "common/json.hpp"

namespace mqchat::bridge {

namespace {

std::string base64url(std::string_view in) {
    std::string out(sodium_base64_ENCODED_LEN(in.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(in.data()), in.size(),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    out.resize(std::strlen(out.c_str()));
    return out;
}

/// ES256 as JWS wants it: the raw 32-byte r and s, not OpenSSL's DER.
std::string es256(const std::string& pem, const std::string& input) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr),
                                                            &EVP_PKEY_free);
    if (!key || EVP_PKEY_base_id(key.get()) != EVP_PKEY_EC)
        throw std::runtime_error("the APNs key is not a PEM EC private key (.p8)");
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    std::size_t len = 0;
    const auto* in = reinterpret_cast<const unsigned char*>(input.data());
    if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size()) != 1)
        throw std::runtime_error("ES256 signing failed");
    std::string der(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &len, in, input.size()) != 1)
        throw std::runtime_error("ES256 signing failed");
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)),
                                                              &ECDSA_SIG_free);
    if (!sig) throw std::runtime_error("ES256 signature did not decode");
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    return raw;
}

} // namespace

apns_client::apns_client(apns_settings settings, http_client& http) : settings_(std::move(settings)), http_(http) {
    std::ifstream in(settings_.key_file);
    std::stringstream text;
    text << in.rdbuf();
    key_pem_ = text.str();
    if (!in || key_pem_.empty()) throw std::runtime_error("apns_key_file " + settings_.key_file + " cannot be read");
    if (settings_.key_id.size() != 10 || settings_.team_id.size() != 10)
        throw std::runtime_error("apns_key_id and apns_team_id are 10 characters each");
    es256(key_pem_, "check"); // fails now, at start, on a bad key
}

std::string apns_client::provider_token(std::int64_t now_s) const {
    Json::Value header(Json::objectValue), claims(Json::objectValue);
    header["alg"] = "ES256";
    header["kid"] = settings_.key_id;
    claims["iss"] = settings_.team_id;
    claims["iat"] = Json::Int64(now_s);
    const std::string input = base64url(json::write(header)) + "." + base64url(json::write(claims));
    return input + "." + base64url(es256(key_pem_, input));
}

push_result apns_client::send(const Json::Value& push) {
    const auto now = std::chrono::steady_clock::now();
    if (token_.empty() || now - token_made_ > std::chrono::minutes(50)) {
        token_ = provider_token(
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
        token_made_ = now;
    }
    const std::string conv = std::to_string(push["conv"].asInt64());
    Json::Value body(Json::objectValue);
    body["aps"]["alert"]["title"] = push["title"];
    body["aps"]["alert"]["body"] = push["body"];
    body["aps"]["badge"] = push["badge"];
    body["aps"]["sound"] = "default";
    body["aps"]["thread-id"] = "conv-" + conv;
    body["conv"] = Json::Int64(push["conv"].asInt64());
    body["seq"] = Json::Int64(push["seq"].asInt64());
    body["sender"] = push["sender"];
    const http_response r = http_.post(settings_.base_url + "/3/device/" + push["token"].asString(),
                                       {"authorization: bearer " + token_, "apns-topic: " + push["app_id"].asString(),
                                        "apns-push-type: alert", "apns-priority: 10", "apns-collapse-id: conv-" + conv,
                                        "content-type: application/json"},
                                       json::write(body));
    push_result out;
    out.retry_after_s = r.retry_after_s;
    out.detail = r.status ? "HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 300) : r.error;
    if (r.status == 200) out.outcome = push_outcome::sent;
    else if (r.status == 410 || r.body.find("BadDeviceToken") != std::string::npos ||
             r.body.find("Unregistered") != std::string::npos)
        out.outcome = push_outcome::invalid_token;
    else if (r.status == 403 && r.body.find("ExpiredProviderToken") != std::string::npos) {
        token_.clear(); // a new one next time
        out.outcome = push_outcome::retry;
    } else if (r.status == 0 || r.status == 429 || r.status >= 500) out.outcome = push_outcome::retry;
    else out.outcome = push_outcome::rejected;
    return out;
}

} // namespace mqchat::bridge
