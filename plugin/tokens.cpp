#include "tokens.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/secret_file.hpp"

namespace mqchat::plugin {

namespace {
std::string read_all(const std::string& option, const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::invalid_argument("plugin_opt_" + option + " '" + path + "' cannot be read");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}
} // namespace

std::unique_ptr<token::key_set> load_token_keys(const plugin_config& config) {
    if (!config.tokens_enabled()) return nullptr;
    auto keys = std::make_unique<token::key_set>();
    if (!config.jwt_hs256_secret_file.empty()) {
        try {
            check_secret_file(config.jwt_hs256_secret_file);
        } catch (const std::runtime_error& e) {
            throw std::invalid_argument("plugin_opt_jwt_hs256_secret_file: " + std::string(e.what()));
        }
        std::string secret = read_all("jwt_hs256_secret_file", config.jwt_hs256_secret_file);
        while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
        try {
            keys->add_hs256_secret(secret);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument("plugin_opt_jwt_hs256_secret_file: " + std::string(e.what()));
        }
    }
    if (!config.jwt_jwks_file.empty()) {
        try {
            keys->add_jwks(read_all("jwt_jwks_file", config.jwt_jwks_file));
        } catch (const std::invalid_argument& e) {
            const std::string what = e.what();
            throw std::invalid_argument(what.rfind("plugin_opt_", 0) == 0 ? what : "plugin_opt_jwt_jwks_file: " + what);
        }
    }
    return keys;
}

token::rules token_rules(const plugin_config& config) {
    return token::rules{config.jwt_issuer, config.jwt_audience, config.jwt_leeway_s};
}

} // namespace mqchat::plugin
