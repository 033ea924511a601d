// The `carcheck` tool as a new user first meets it: the key from the environment or a file,
// CARCHECK_CA_FILE, endpoints typed by hand, a TLS endpoint whose certificate does not verify.
// Each failure gets one clear line; the process runs against the in-process mock.

#include "support/mock_fixture.hpp"
#include "support/process.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#ifdef CARCHECK_CLI_EXECUTABLE

namespace {

namespace fs = std::filesystem;
namespace mock = carcheck::mock;
using namespace std::chrono_literals;
using carcheck_test::process_result;

const std::string first_use_key = "first-use-key-5b1d";

std::size_t count_of(const std::string& text, const std::string& what)
{
    std::size_t n = 0;
    for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1))
        ++n;
    return n;
}

struct first_use_fixture {
    mock::server server{[] {
        mock::server_options o;
        o.keys.push_back(mock::key_config{.key = first_use_key});
        return o;
    }()};
    carcheck_test::temp_dir dir;
    fs::path ca_file, image;

    first_use_fixture()
    {
        server.start();
        ca_file = carcheck_test::write_file(dir.path / "mock-ca.pem", server.certificate_pem());
        image = carcheck_test::write_file(dir.path / "car.jpg", carcheck_test::image_bytes("FIRST1"));
    }

    std::string https() const { return "https://127.0.0.1:" + std::to_string(server.https_port()) + "/v3"; }

    /// Runs carcheck with `args`; the environment holds only what `env` says of the
    /// CARCHECK_ variables.
    process_result run(std::vector<std::string> args, std::map<std::string, std::optional<std::string>> env = {})
    {
        args.insert(args.begin(), CARCHECK_CLI_EXECUTABLE);
        for (const char* name : {"CARCHECK_SECRET_KEY", "CARCHECK_ENDPOINT", "CARCHECK_CA_FILE"})
            env.emplace(name, std::nullopt);
        carcheck_test::process_options o;
        o.args = std::move(args);
        o.env = std::move(env);
        return carcheck_test::run_process(std::move(o), 60s);
    }

    process_result recognize_with_key(std::optional<std::string> key)
    {
        return run({"recognize", "--quiet", "--endpoint", https(), "--ca-file", ca_file.string(), image.string()},
                   {{"CARCHECK_SECRET_KEY", std::move(key)}});
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(cli_first_use_test)

BOOST_AUTO_TEST_CASE(key_from_the_environment_is_trimmed_like_the_key_file)
{
    first_use_fixture f;
    auto r = f.recognize_with_key("  " + first_use_key + "\n");
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(r.out.find("FIRST1") != std::string::npos, r.out);

    r = f.recognize_with_key(" \t\n");
    BOOST_TEST(r.exit_code == 2);
    BOOST_TEST(r.err.find("CARCHECK_SECRET_KEY holds only white space") != std::string::npos, r.err);
    BOOST_TEST(f.server.get_stats().requests == 1u); // only the first run sent anything
}

BOOST_AUTO_TEST_CASE(unusable_key_files_are_named_for_what_is_wrong)
{
    first_use_fixture f;
    auto with_file = [&](const fs::path& file) {
        return f.run({"recognize", "--quiet", "--endpoint", f.https(), "--ca-file", f.ca_file.string(),
                      "--secret-key-file", file.string(), f.image.string()});
    };
    auto r = with_file(f.dir.path);
    BOOST_TEST(r.exit_code == 2);
    BOOST_TEST(r.err.find("is a directory") != std::string::npos, r.err);

    r = with_file(carcheck_test::write_file(f.dir.path / "blank.key", "\n" + first_use_key + "\n"));
    BOOST_TEST(r.exit_code == 2);
    BOOST_TEST(r.err.find("first line") != std::string::npos, r.err);
    BOOST_TEST(r.err.find("blank") != std::string::npos, r.err);
    BOOST_TEST(r.err.find(first_use_key) == std::string::npos);

    r = with_file(carcheck_test::write_file(f.dir.path / "empty.key", ""));
    BOOST_TEST(r.exit_code == 2);
    BOOST_TEST(r.err.find("is empty") != std::string::npos, r.err);

    r = with_file(f.dir.path / "missing.key");
    BOOST_TEST(r.exit_code == 2);
    BOOST_TEST(r.err.find("No such file or directory") != std::string::npos, r.err);

    r = with_file(carcheck_test::write_file(f.dir.path / "good.key", "\t" + first_use_key + " \r\n"));
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(f.server.get_stats().requests == 1u);
}

BOOST_AUTO_TEST_CASE(ca_file_from_the_environment)
{
    first_use_fixture f;
    auto r = f.run({"recognize", "--quiet", f.image.string()}, {{"CARCHECK_SECRET_KEY", first_use_key},
                                                                {"CARCHECK_ENDPOINT", f.https()},
                                                                {"CARCHECK_CA_FILE", f.ca_file.string()}});
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(r.out.find("FIRST1") != std::string::npos, r.out);
}

BOOST_AUTO_TEST_CASE(endpoints_typed_by_hand)
{
    first_use_fixture f;
    auto recognize_at = [&](const std::string& endpoint) {
        return f.run({"recognize", "--quiet", "--endpoint", endpoint, f.image.string()},
                     {{"CARCHECK_SECRET_KEY", first_use_key}});
    };
    // Above 65535: refused, not wrapped around to another port.
    auto r = recognize_at("https://127.0.0.1:99999/v3");
    BOOST_TEST(r.exit_code == 2);
    BOOST_TEST(r.err.find("99999") != std::string::npos, r.err);
    BOOST_TEST(r.err.find("1 to 65535") != std::string::npos, r.err);

    // The scheme is case-insensitive.
    r = recognize_at("HTTP://127.0.0.1:" + std::to_string(f.server.http_port()) + "/v3");
    BOOST_TEST(r.exit_code == 0, r.err);

    // Plain HTTP elsewhere: the message names what the tool offers, not a library option.
    r = recognize_at("http://example.com/v3");
    BOOST_TEST(r.exit_code == 2);
    BOOST_TEST(r.err.find("https://") != std::string::npos, r.err);
    BOOST_TEST(r.err.find("allow_insecure_http") == std::string::npos, r.err);
    BOOST_TEST(f.server.get_stats().requests == 1u);
}

BOOST_AUTO_TEST_CASE(certificate_verification_failure_is_said_once_and_not_retried)
{
    first_use_fixture f;
    // No --ca-file: the system store does not know the mock's self-signed certificate.
    auto r = f.run({"recognize", "--quiet", "--endpoint", f.https(), f.image.string()},
                   {{"CARCHECK_SECRET_KEY", first_use_key}});
    BOOST_TEST(r.exit_code != 0);
    const std::string all = r.out + r.err;
    BOOST_TEST(count_of(all, "certificate verif") == 1u, all);
    BOOST_TEST(f.server.get_stats().connections_accepted == 1u); // one handshake, no retry
    BOOST_TEST(f.server.get_stats().requests == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

#endif
