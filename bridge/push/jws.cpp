#include "jws.hpp"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <stdexcept>

#include "common/json.hpp"
#include "common/token.hpp"

namespace mqchat::bridge {

std::string sign_jws(Json::Value header, const Json::Value& claims, const std::string& pem) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr),
                                                            &EVP_PKEY_free);
    const int type = key ? EVP_PKEY_base_id(key.get()) : 0;
    if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC) throw std::runtime_error("not a PEM RSA or EC private key");
    const std::string alg = type == EVP_PKEY_RSA ? "RS256" : "ES256";
    if (header.isMember("alg") && header["alg"] != alg)
        throw std::runtime_error("the key signs " + alg + ", not " + header["alg"].asString());
    header["alg"] = alg;
    const std::string input = token::base64url(json::write(header)) + "." + token::base64url(json::write(claims));

    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    const auto* in = reinterpret_cast<const unsigned char*>(input.data());
    std::size_t len = 0;
    if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size()) != 1)
        throw std::runtime_error(alg + " signing failed");
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size()) != 1)
        throw std::runtime_error(alg + " signing failed");
    sig.resize(len);
    if (type == EVP_PKEY_EC) { // JWS wants the raw 32-byte r and s, not OpenSSL's DER
        const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
        std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> ec(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)),
                                                                 &ECDSA_SIG_free);
        if (!ec) throw std::runtime_error("ES256 signature did not decode");
        std::string raw(64, '\0');
        BN_bn2binpad(ECDSA_SIG_get0_r(ec.get()), reinterpret_cast<unsigned char*>(raw.data()), 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(ec.get()), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
        sig = std::move(raw);
    }
    return input + "." + token::base64url(sig);
}

} // namespace mqchat::bridge
