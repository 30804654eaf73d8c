#pragma once
/// Compact JWS signing with a PEM private key, for the push providers' own
/// tokens: RS256 with an RSA key (FCM's OAuth grant), ES256 with a P-256 key
/// (APNs' provider token). Verification of clients' tokens is cjose's, in
/// common/token.hpp; this is the other direction, with keys in the PEM files
/// Google and Apple hand out.

#include <json/json.h>

#include <string>

namespace mqchat::bridge {

/// header.claims.signature; the header's "alg" is set from the key
/// (RS256 or ES256). Throws std::runtime_error when the key is not a PEM
/// RSA or EC private key, or when `alg` is given and does not match it.
std::string sign_jws(Json::Value header, const Json::Value& claims, const std::string& pem_private_key);

} // namespace mqchat::bridge
