#pragma once
/// The plugin's token keys: read from the files its options name, at start
/// and again on SIGHUP (MOSQ_EVT_RELOAD), so keys rotate without a restart.

#include <memory>

#include "common/token.hpp"
#include "config.hpp"

namespace mqchat::plugin {

/// Throws std::invalid_argument naming the option whose file is unusable.
std::unique_ptr<token::key_set> load_token_keys(const plugin_config& config);

token::rules token_rules(const plugin_config& config);

} // namespace mqchat::plugin
