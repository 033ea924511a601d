#ifndef CARCHECK_CLI_RUNNER_HPP
#define CARCHECK_CLI_RUNNER_HPP

// The commands: `recognize` (the batch runner) and `config`, on the public carcheck::client
// API only.

#include "args.hpp"

#include <string>

namespace carcheck_cli {

/// Runs `carcheck recognize`; returns the exit status. Throws usage_error.
int run_recognize(const cli_options& o, const std::string& secret_key);

/// Runs `carcheck config`; returns the exit status. Throws usage_error.
int run_config(const cli_options& o, const std::string& secret_key);

/// `text` with every occurrence of the key replaced by "[redacted]" (keys shorter than 4
/// characters are left alone: they would match ordinary text).
std::string redact(std::string text, const std::string& secret_key);

} // namespace carcheck_cli

#endif
