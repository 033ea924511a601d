// carcheck: command-line client of the OpenALPR CarCheck Cloud API v3 (see README.md).
//   carcheck recognize [options] PATH...
//   carcheck config [options]
#include "args.hpp"
#include "runner.hpp"

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

int main(int argc, char** argv)
{
    using namespace carcheck_cli;
    const std::vector<std::string> args(argv + 1, argv + argc);
    command cmd = command::none;
    if (!args.empty() && (args[0] == "recognize" || args[0] == "config"))
        cmd = args[0] == "recognize" ? command::recognize : command::config;
    std::string key;
    try {
        const cli_options o = parse_command_line(args);
        if (o.cmd == command::help || o.help) {
            std::fputs(help_text(o.cmd == command::help ? command::none : o.cmd).c_str(), stdout);
            return exit_ok;
        }
        if (o.cmd == command::version) {
            std::puts("carcheck 0.1.0");
            return exit_ok;
        }
        key = load_secret_key(o, o.cmd == command::config); // GET /config needs none
        return o.cmd == command::recognize ? run_recognize(o, key) : run_config(o, key);
    } catch (const usage_error& e) {
        std::fprintf(stderr, "carcheck: %s\n%s", redact(e.what(), key).c_str(), usage_hint(cmd).c_str());
        return exit_usage;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "carcheck: %s\n", redact(e.what(), key).c_str());
        return exit_failures;
    }
}
