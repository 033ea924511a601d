// The `carcheck` command-line tool (tools/cli), run as a process against the in-process
// mock server on loopback: plates in JSON Lines and CSV, interrupt + resume, exit statuses,
// error lines, progress output.

#include "support/mock_fixture.hpp"
#include "support/process.hpp"
#include "support/text.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifdef CARCHECK_CLI_EXECUTABLE

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace mock = carcheck::mock;
using namespace std::chrono_literals;
using carcheck_test::process_options;
using carcheck_test::process_result;

const std::string cli_key = "cli-test-secret-7f3a9c";

mock::server_options cli_mock_options(std::chrono::milliseconds slow = 2000ms)
{
    mock::server_options o;
    o.keys.push_back(mock::key_config{.key = cli_key});
    o.slow_delay = slow;
    return o;
}

using carcheck_test::lines_of;
using carcheck_test::read_text;

/// Splits one CSV record without embedded line breaks (RFC 4180 quoting).
std::vector<std::string> csv_split(const std::string& line)
{
    std::vector<std::string> fields(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"')
                fields.back() += '"', ++i;
            else if (c == '"')
                quoted = false;
            else
                fields.back() += c;
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            fields.emplace_back();
        } else {
            fields.back() += c;
        }
    }
    return fields;
}

struct cli_fixture {
    mock::server server;
    carcheck_test::temp_dir dir;
    fs::path ca_file;

    explicit cli_fixture(mock::server_options o = cli_mock_options()) : server(std::move(o))
    {
        server.start();
        ca_file = carcheck_test::write_file(dir.path / "mock-ca.pem", server.certificate_pem());
    }

    std::string https() const { return "https://127.0.0.1:" + std::to_string(server.https_port()) + "/v3"; }
    std::string http() const { return "http://127.0.0.1:" + std::to_string(server.http_port()) + "/v3"; }

    /// `count` images PLATE1.. in `folder` (half of them in a sub-folder), plus a file the
    /// folder search must ignore. Returns the expected plate of every path.
    std::map<std::string, std::string> make_images(const std::string& folder, const std::string& prefix, int count)
    {
        const fs::path root = dir.path / folder;
        fs::create_directories(root / "sub");
        std::map<std::string, std::string> expected;
        for (int i = 1; i <= count; ++i) {
            const std::string plate = prefix + std::to_string(i);
            const fs::path p = (i % 2 ? root : root / "sub") / (plate + ".jpg");
            carcheck_test::write_file(p, carcheck_test::image_bytes(plate));
            expected[p.string()] = plate;
        }
        carcheck_test::write_file(root / "notes.txt", "plate=NOTANIMAGE");
        return expected;
    }

    process_result run(std::vector<std::string> args, std::map<std::string, std::optional<std::string>> env = {},
                       std::string stdin_data = {})
    {
        return carcheck_test::run_process(options(std::move(args), std::move(env), std::move(stdin_data)), 90s);
    }

    process_options options(std::vector<std::string> args, std::map<std::string, std::optional<std::string>> env = {},
                            std::string stdin_data = {}) const
    {
        args.insert(args.begin(), CARCHECK_CLI_EXECUTABLE);
        env.emplace("CARCHECK_SECRET_KEY", cli_key);
        env.emplace("CARCHECK_ENDPOINT", std::nullopt);
        process_options o;
        o.args = std::move(args);
        o.env = std::move(env);
        o.stdin_data = std::move(stdin_data);
        return o;
    }

    std::size_t recognize_requests() const
    {
        const auto all = server.requests();
        return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [](const auto& r) {
            return r.path.find("recognize") != std::string::npos;
        }));
    }
};

/// Every JSON line's input, checked to be unique; the map input -> line object.
std::map<std::string, json::object> parse_jsonl(const std::string& text)
{
    std::map<std::string, json::object> out;
    for (const auto& line : lines_of(text)) {
        boost::system::error_code ec;
        auto v = json::parse(line, ec);
        BOOST_TEST_REQUIRE(!ec, "not JSON: " << line);
        BOOST_TEST_REQUIRE(v.is_object());
        const std::string input(v.at("input").as_string());
        BOOST_TEST(out.count(input) == 0u, "input written twice: " << input);
        out[input] = v.as_object();
    }
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(cli_test)

BOOST_AUTO_TEST_CASE(folder_to_json_lines_over_tls)
{
    cli_fixture f;
    const auto expected = f.make_images("images", "JSONL", 7);
    const auto r = f.run({"recognize", "--endpoint", f.https(), "--ca-file", f.ca_file.string(), "--concurrency", "3",
                          "--vehicle", (f.dir.path / "images").string()});
    BOOST_TEST(r.exit_code == 0, r.err);
    const auto lines = parse_jsonl(r.out);
    BOOST_TEST(lines.size() == expected.size());
    for (const auto& [path, plate] : expected) {
        BOOST_TEST_REQUIRE(lines.count(path) == 1u, "no line for " << path << "\n" << r.out);
        const auto& o = lines.at(path);
        BOOST_TEST(o.at("ok").as_bool());
        BOOST_TEST(o.at("plate").as_string() == plate);
        BOOST_TEST(o.at("region").as_string() == "ca");
        BOOST_TEST(o.at("confidence").to_number<double>() ==
                   o.at("reply").at("results").at(0).at("confidence").to_number<double>());
        BOOST_TEST(o.at("vehicle").is_object());
        BOOST_TEST(o.at("reply").at("results").at(0).at("plate").as_string() == plate);
    }
    BOOST_TEST(r.err.find("carcheck summary") != std::string::npos, r.err);
    BOOST_TEST(r.err.find("succeeded      7") != std::string::npos, r.err);
    BOOST_TEST(r.err.find("p99") != std::string::npos);
    BOOST_TEST(r.err.find("credits        used by this run 14") != std::string::npos, r.err); // 2 credits with --vehicle
    BOOST_TEST(r.err.find(cli_key) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(each_input_once_at_its_first_position)
{
    cli_fixture f;
    const fs::path folder = f.dir.path / "dups";
    fs::create_directories(folder);
    const auto a = carcheck_test::write_file(folder / "a.jpg", carcheck_test::image_bytes("DUPA1"));
    const auto b = carcheck_test::write_file(folder / "b.jpg", carcheck_test::image_bytes("DUPB2"));
    // b first, then the folder (a, and b again), then b once more: two lines, b then a.
    const auto r = f.run({"recognize", "--endpoint", f.http(), "--concurrency", "1", b.string(), folder.string(),
                          b.string()});
    BOOST_TEST(r.exit_code == 0, r.err);
    const auto lines = lines_of(r.out);
    BOOST_TEST_REQUIRE(lines.size() == 2u, r.out);
    BOOST_TEST(json::parse(lines[0]).at("input").as_string() == b.string());
    BOOST_TEST(json::parse(lines[1]).at("input").as_string() == a.string());
    BOOST_TEST(f.recognize_requests() == 2u);

    // The same with the smallest read-ahead window and with none.
    for (const char* window : {"1", "0"}) {
        const auto again = f.run({"recognize", "--endpoint", f.http(), "--concurrency", "1", "--read-ahead", window,
                                  b.string(), folder.string(), b.string()});
        BOOST_TEST(again.exit_code == 0, again.err);
        const auto again_lines = lines_of(again.out);
        BOOST_TEST_REQUIRE(again_lines.size() == 2u, again.out);
        for (std::size_t i = 0; i < 2; ++i) {
            const auto want = json::parse(lines[i]), got = json::parse(again_lines[i]);
            BOOST_TEST(got.at("input") == want.at("input"));
            BOOST_TEST(got.at("plate") == want.at("plate"));
        }
    }
}

BOOST_AUTO_TEST_CASE(csv_output_file_append_and_resume)
{
    cli_fixture f;
    auto expected = f.make_images("images", "CSV", 5);
    // A name that needs RFC 4180 quoting.
    const fs::path odd = f.dir.path / "images" / "odd, \"name\".jpg";
    carcheck_test::write_file(odd, carcheck_test::image_bytes("ODD1"));
    expected[odd.string()] = "ODD1";
    const fs::path out = f.dir.path / "plates.csv";
    const auto r = f.run({"recognize", "--endpoint", f.http(), "--format", "csv", "--output", out.string(), "--quiet",
                          (f.dir.path / "images").string()});
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(r.out.empty());
    BOOST_TEST(r.err.empty(), r.err); // --quiet
    auto check = [&](const std::string& text) {
        const auto lines = lines_of(text);
        BOOST_TEST_REQUIRE(lines.size() == expected.size() + 1);
        BOOST_TEST(lines[0] == "input,ok,plate,confidence,region,vehicle_color,vehicle_make,vehicle_make_model,"
                               "vehicle_body_type,vehicle_year,error,message,http_status");
        std::set<std::string> seen;
        for (std::size_t i = 1; i < lines.size(); ++i) {
            const auto fields = csv_split(lines[i]);
            BOOST_TEST_REQUIRE(fields.size() == 13u, lines[i]);
            BOOST_TEST(seen.insert(fields[0]).second, "twice: " << fields[0]);
            BOOST_TEST_REQUIRE(expected.count(fields[0]) == 1u, fields[0]);
            BOOST_TEST(fields[1] == "true");
            BOOST_TEST(fields[2] == expected.at(fields[0]));
            BOOST_TEST(fields[4] == "ca");
        }
    };
    check(read_text(out));
    BOOST_TEST(read_text(out).find("\"" + f.dir.path.string() + "/images/odd, \"\"name\"\".jpg\"") != std::string::npos);

    // Resuming a complete batch sends nothing and writes nothing.
    const auto before = f.recognize_requests();
    const auto again = f.run({"recognize", "--endpoint", f.http(), "--format", "csv", "--output", out.string(),
                              "--resume", (f.dir.path / "images").string()});
    BOOST_TEST(again.exit_code == 0, again.err);
    BOOST_TEST(f.recognize_requests() == before);
    BOOST_TEST(again.err.find("6 skipped") != std::string::npos, again.err);
    check(read_text(out));
}

BOOST_AUTO_TEST_CASE(interrupted_batch_resumes_each_input_exactly_once)
{
    cli_fixture f(cli_mock_options(300ms));
    f.server.inject(mock::fault::slow_headers, 1000); // every request takes 300 ms
    const auto expected = f.make_images("images", "INT", 16);
    const fs::path out = f.dir.path / "plates.jsonl";
    const std::vector<std::string> args{"recognize", "--endpoint", f.http(), "--concurrency", "2", "--output",
                                        out.string(), "--resume", (f.dir.path / "images").string()};
    {
        carcheck_test::child_process p(f.options(args));
        const bool some = p.wait_until([&] { return lines_of(read_text(out)).size() >= 3; }, 30s);
        BOOST_TEST_REQUIRE(some, "no output appeared: " << p.err());
        p.send_signal(SIGINT);
        const auto r = p.wait(30s);
        BOOST_TEST(r.exit_code == 130, r.err);
        BOOST_TEST(r.err.find("interrupted") != std::string::npos, r.err);
        BOOST_TEST(r.err.find("not processed") != std::string::npos, r.err);
        const auto written = parse_jsonl(read_text(out));
        BOOST_TEST(written.size() >= 3u);
        BOOST_TEST(written.size() < expected.size());
        // In-flight requests were finished and written, none started after the signal.
        BOOST_TEST(f.recognize_requests() == written.size());
    }
    const auto r = f.run({"recognize", "--endpoint", f.http(), "--concurrency", "4", "--output", out.string(),
                          "--resume", (f.dir.path / "images").string()});
    BOOST_TEST(r.exit_code == 0, r.err);
    const auto all = parse_jsonl(read_text(out)); // fails on any duplicate
    BOOST_TEST(all.size() == expected.size());
    for (const auto& [path, plate] : expected) {
        BOOST_TEST_REQUIRE(all.count(path) == 1u, path);
        BOOST_TEST(all.at(path).at("plate").as_string() == plate);
    }
    BOOST_TEST(f.recognize_requests() == expected.size()); // nothing sent twice
}

BOOST_AUTO_TEST_CASE(options_reach_the_service)
{
    cli_fixture f;
    const auto expected = f.make_images("images", "OPT", 6);
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = f.run({"recognize", "--endpoint", f.http(), "--base64", "--topn", "3", "--country", "eu",
                          "--rate", "10", "--retries", "0", "--timeout", "30", "--concurrency", "6",
                          (f.dir.path / "images").string()});
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    BOOST_TEST(r.exit_code == 0, r.err);
    const auto lines = parse_jsonl(r.out);
    BOOST_TEST(lines.size() == expected.size());
    for (const auto& [path, plate] : expected) {
        BOOST_TEST_REQUIRE(lines.count(path) == 1u, path);
        BOOST_TEST(lines.at(path).at("reply").at("results").at(0).at("candidates").as_array().size() == 3u);
        BOOST_TEST(lines.at(path).at("vehicle").is_null());
    }
    for (const auto& req : f.server.requests()) {
        BOOST_TEST(req.path == "/v3/recognize_bytes");
        BOOST_TEST(req.query.at("topn") == "3");
        BOOST_TEST(req.query.at("country") == "eu");
    }
    // 6 requests at 10 per second (burst 1): at least ~0.5 s.
    BOOST_TEST(std::chrono::duration<double>(elapsed).count() >= 0.45);
}

BOOST_AUTO_TEST_CASE(bad_key_exits_3_without_printing_the_key)
{
    cli_fixture f;
    f.make_images("images", "KEY", 4);
    const std::string wrong = "wrong-key-5c1e0d2b";
    const auto r = f.run({"recognize", "--endpoint", f.http(), (f.dir.path / "images").string()},
                         {{"CARCHECK_SECRET_KEY", wrong}});
    BOOST_TEST(r.exit_code == 3, r.err);
    BOOST_TEST(r.err.find("authentication failed") != std::string::npos, r.err);
    BOOST_TEST(r.err.find("401") != std::string::npos, r.err);
    BOOST_TEST(r.err.find(wrong) == std::string::npos, r.err);
    BOOST_TEST(r.out.find(wrong) == std::string::npos, r.out);
    BOOST_TEST(r.out.empty(), r.out); // refused inputs get no line: --resume sends them later

    // The same key through --secret-key-file.
    const auto key_file = carcheck_test::write_file(f.dir.path / "key.txt", wrong + "\n");
    const auto r2 = f.run({"recognize", "--secret-key-file", key_file.string(), "--endpoint", f.http(),
                           (f.dir.path / "images").string()},
                          {{"CARCHECK_SECRET_KEY", std::nullopt}});
    BOOST_TEST(r2.exit_code == 3, r2.err);
    BOOST_TEST(r2.err.find(wrong) == std::string::npos, r2.err);
}

BOOST_AUTO_TEST_CASE(missing_file_gets_its_own_error_line)
{
    cli_fixture f;
    const auto good = carcheck_test::write_file(f.dir.path / "good.jpg", carcheck_test::image_bytes("GOOD1"));
    const std::string missing = (f.dir.path / "missing.jpg").string();
    const auto r = f.run({"recognize", "--endpoint", f.http(), good.string(), missing});
    BOOST_TEST(r.exit_code == 1, r.err);
    const auto lines = parse_jsonl(r.out);
    BOOST_TEST_REQUIRE(lines.size() == 2u, r.out);
    BOOST_TEST(lines.at(good.string()).at("ok").as_bool());
    BOOST_TEST(lines.at(good.string()).at("plate").as_string() == "GOOD1");
    const auto& bad = lines.at(missing);
    BOOST_TEST(!bad.at("ok").as_bool());
    BOOST_TEST(bad.at("error").as_string() == "file_not_found");
    BOOST_TEST(std::string(bad.at("message").as_string()).find("missing.jpg") != std::string::npos);
    BOOST_TEST(bad.at("http_status").is_null());
    BOOST_TEST(r.err.find("file_not_found: 1") != std::string::npos, r.err);

    // Paths on stdin, CSV on stdout.
    const auto r2 = f.run({"recognize", "--endpoint", f.http(), "--format", "csv", "-"}, {},
                          good.string() + "\n" + missing + "\n");
    BOOST_TEST(r2.exit_code == 1, r2.err);
    const auto csv = lines_of(r2.out);
    BOOST_TEST_REQUIRE(csv.size() == 3u, r2.out);
    BOOST_TEST(r2.out.find(missing + ",false,,,,,,,,,file_not_found,") != std::string::npos, r2.out);

    // A URL the service cannot fetch is an error line with the HTTP status.
    const std::string url = "http://127.0.0.1:" + std::to_string(f.server.http_port()) + "/nothing.jpg";
    const auto r3 = f.run({"recognize", "--endpoint", f.http(), "--url", url});
    BOOST_TEST(r3.exit_code == 1, r3.err);
    const auto u = parse_jsonl(r3.out);
    BOOST_TEST_REQUIRE(u.count(url) == 1u, r3.out);
    BOOST_TEST(u.at(url).at("error").as_string() == "invalid_parameter");
    BOOST_TEST(u.at(url).at("http_status").as_int64() == 400);
}

BOOST_AUTO_TEST_CASE(output_write_failure_stops_with_a_clear_error)
{
    // /dev/full accepts the open and fails every write with ENOSPC: lines are written in
    // batches, and the failure of a batch must still stop the run and be reported.
    if (!fs::exists("/dev/full"))
        return;
    cli_fixture f;
    f.make_images("full", "FULL", 20);
    const auto r = f.run({"recognize", "--endpoint", f.http(), "--concurrency", "2", "--output", "/dev/full",
                          (f.dir.path / "full").string()});
    BOOST_TEST(r.exit_code == 1, r.err);
    BOOST_TEST(r.err.find("cannot write the output") != std::string::npos, r.err);
    BOOST_TEST(r.err.find("No space left on device") != std::string::npos, r.err);
    // It stopped: not every image was sent.
    BOOST_TEST(f.recognize_requests() < 20u);
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2)
{
    cli_fixture f;
    const auto img = carcheck_test::write_file(f.dir.path / "u.jpg", carcheck_test::image_bytes("USE1"));
    const std::vector<std::vector<std::string>> bad{
        {},
        {"frobnicate"},
        {"recognize"},
        {"recognize", "--bogus", img.string()},
        {"recognize", "--concurrency", "0", img.string()},
        {"recognize", "--topn", "5000", img.string()},
        {"recognize", "--read-ahead", "-1", img.string()},
        {"recognize", "--read-ahead", "many", img.string()},
        {"config", "--read-ahead", "4"},
        {"recognize", "--format", "xml", img.string()},
        {"recognize", "--resume", img.string()},
        {"recognize", "--secret-key", cli_key, img.string()},
        {"recognize", "--url", "--base64", "http://127.0.0.1/a.jpg"},
        {"recognize", "--endpoint", "https://api.example.com/v3", "--insecure-loopback", img.string()},
        {"recognize", "--endpoint", "http://api.example.com/v3", img.string()},
        {"recognize", "--endpoint", f.http(), (f.dir.path / "empty-folder-does-not-exist").string() + "/"},
        {"config", "--vehicle"},
    };
    fs::create_directories(f.dir.path / "empty");
    for (const auto& args : bad) {
        const auto r = f.run(args);
        std::string joined;
        for (const auto& a : args)
            joined += a + " ";
        // A missing path is an error line (exit 1), not a usage error.
        const int want = joined.find("does-not-exist") != std::string::npos ? 1 : 2;
        BOOST_TEST(r.exit_code == want, joined << "-> " << r.exit_code << ": " << r.err);
        BOOST_TEST(r.err.find("carcheck: ") != std::string::npos, joined);
        BOOST_TEST(r.err.find(cli_key) == std::string::npos, joined);
    }
    const auto empty = f.run({"recognize", "--endpoint", f.http(), (f.dir.path / "empty").string()});
    BOOST_TEST(empty.exit_code == 2, empty.err);
    BOOST_TEST(empty.err.find("no input found") != std::string::npos, empty.err);

    const auto no_key = f.run({"recognize", img.string()}, {{"CARCHECK_SECRET_KEY", std::nullopt}});
    BOOST_TEST(no_key.exit_code == 2);
    BOOST_TEST(no_key.err.find("CARCHECK_SECRET_KEY") != std::string::npos, no_key.err);

    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--help"}, {"recognize", "--help"}, {"config", "--help"}, {"help", "recognize"}}) {
        const auto r = f.run(args, {{"CARCHECK_SECRET_KEY", std::nullopt}});
        BOOST_TEST(r.exit_code == 0);
        BOOST_TEST(r.out.find("Example") != std::string::npos, r.out);
        BOOST_TEST(r.out.find("Exit status") != std::string::npos, r.out);
    }
}

BOOST_AUTO_TEST_CASE(config_command)
{
    cli_fixture f;
    const auto r = f.run({"config", "--endpoint", f.https(), "--ca-file", f.ca_file.string()});
    BOOST_TEST(r.exit_code == 0, r.err);
    const auto v = json::parse(r.out);
    BOOST_TEST(v.at("countries").as_array().size() > 0u);
    // Without the CA: verification fails, unless --insecure-loopback.
    const auto unverified = f.run({"config", "--endpoint", f.https()});
    BOOST_TEST(unverified.exit_code == 4, unverified.err); // service unreachable
    const auto insecure = f.run({"config", "--endpoint", f.https(), "--insecure-loopback"});
    BOOST_TEST(insecure.exit_code == 0, insecure.err);
}

BOOST_AUTO_TEST_CASE(progress_lines_when_not_a_terminal)
{
    cli_fixture f(cli_mock_options(150ms));
    f.server.inject(mock::fault::slow_headers, 1000);
    f.make_images("images", "PROG", 6);
    const auto r = f.run({"recognize", "--endpoint", f.http(), "--concurrency", "1", "--progress-interval", "0.1",
                          (f.dir.path / "images").string()});
    BOOST_TEST(r.exit_code == 0, r.err);
    // "carcheck: 3/6 done (50%), 6.1 images/s, ETA 0:01, in flight 1/1, 0 errors, throttled 0.0 s"
    std::size_t progress_lines = 0;
    for (const auto& l : lines_of(r.err))
        progress_lines += l.rfind("carcheck: ", 0) == 0 && l.find("/6 done (") != std::string::npos &&
                          l.find("%), ") != std::string::npos && l.find(" images/s, ETA ") != std::string::npos && l.find(", in flight ") != std::string::npos &&
                          l.find(", 0 errors, throttled ") != std::string::npos && l.back() == 's';
    BOOST_TEST(progress_lines >= 3u, r.err);
    BOOST_TEST(r.err.find("carcheck: 6/6 done (100%)") != std::string::npos, r.err);
    BOOST_TEST(r.err.find('\r') == std::string::npos); // no bar
}

BOOST_AUTO_TEST_CASE(progress_bar_in_a_pseudo_terminal)
{
    if (::access("/usr/bin/script", X_OK) != 0) {
        BOOST_TEST_MESSAGE("script(1) not installed: pseudo-terminal check skipped");
        return;
    }
    cli_fixture f(cli_mock_options(100ms));
    f.server.inject(mock::fault::slow_headers, 1000);
    f.make_images("images", "PTY", 4);
    const fs::path out = f.dir.path / "pty.jsonl";
    const std::string cmd = std::string(CARCHECK_CLI_EXECUTABLE) + " recognize --endpoint " + f.http() +
                            " --concurrency 1 --output " + out.string() + " " + (f.dir.path / "images").string();
    process_options o;
    o.args = {"/usr/bin/script", "-q", "-e", "-c", cmd, "/dev/null"};
    o.env = {{"CARCHECK_SECRET_KEY", cli_key}, {"CARCHECK_ENDPOINT", std::nullopt}, {"TERM", "dumb"}};
    const auto r = carcheck_test::run_process(std::move(o), 90s);
    BOOST_TEST(r.exit_code == 0, r.out << r.err);
    BOOST_TEST(r.out.find("\r[") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("img/s") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("4/4") != std::string::npos, r.out);
    BOOST_TEST(parse_jsonl(read_text(out)).size() == 4u);
}

BOOST_AUTO_TEST_SUITE_END()

#endif
