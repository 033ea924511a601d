// The `carcheck` command-line tool as a process, on what costs credits or loses results:
// --resume continues the file it finds (format, names that are not UTF-8, a half-written
// line, kill -9), failed writes, outages that stop the batch (exit 4), `config` without a
// key, folder entries that are not images, the progress bar sharing a terminal with the
// results, the summary's figures, option limits and memory for a million-input stdin.

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

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#ifdef CARCHECK_CLI_EXECUTABLE

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace mock = carcheck::mock;
using namespace std::chrono_literals;
using carcheck_test::process_options;
using carcheck_test::process_result;

const std::string batch_key = "cli-batch-secret-4b8e21";

mock::server_options batch_mock_options(std::chrono::milliseconds slow = 2000ms, unsigned short http_port = 0)
{
    mock::server_options o;
    o.keys.push_back(mock::key_config{.key = batch_key});
    o.slow_delay = slow;
    o.http_port = http_port;
    return o;
}

using carcheck_test::lines_of;
using carcheck_test::read_text;

/// The input of every line (input_hex decoded), each required to be valid JSON, once.
std::map<std::string, json::object> jsonl_by_input(const std::string& text)
{
    std::map<std::string, json::object> out;
    for (const auto& line : lines_of(text)) {
        boost::system::error_code ec;
        auto v = json::parse(line, ec); // Boost.JSON rejects invalid UTF-8
        BOOST_TEST_REQUIRE(!ec, "not valid JSON: " << line);
        BOOST_TEST_REQUIRE(v.is_object());
        std::string input(v.at("input").as_string());
        if (const auto* hex = v.as_object().if_contains("input_hex")) {
            input.clear();
            const std::string h(hex->as_string());
            for (std::size_t i = 0; i + 1 < h.size(); i += 2)
                input += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
        }
        BOOST_TEST(out.count(input) == 0u, "input written twice: " << input);
        out[input] = v.as_object();
    }
    return out;
}

struct batch_fixture {
    std::unique_ptr<mock::server> server;
    carcheck_test::temp_dir dir;

    explicit batch_fixture(mock::server_options o = batch_mock_options())
        : server(std::make_unique<mock::server>(std::move(o)))
    {
        server->start();
    }

    std::string http() const { return "http://127.0.0.1:" + std::to_string(server->http_port()) + "/v3"; }
    std::string https() const { return "https://127.0.0.1:" + std::to_string(server->https_port()) + "/v3"; }

    /// `count` images in `folder`; their paths.
    std::vector<std::string> make_images(const std::string& folder, const std::string& prefix, int count)
    {
        const fs::path root = dir.path / folder;
        fs::create_directories(root);
        std::vector<std::string> paths;
        for (int i = 1; i <= count; ++i) {
            const fs::path p = root / (prefix + std::to_string(i) + ".jpg");
            carcheck_test::write_file(p, carcheck_test::image_bytes(prefix + std::to_string(i)));
            paths.push_back(p.string());
        }
        return paths;
    }

    process_options options(std::vector<std::string> args, std::map<std::string, std::optional<std::string>> env = {},
                            std::string stdin_data = {}) const
    {
        args.insert(args.begin(), CARCHECK_CLI_EXECUTABLE);
        env.emplace("CARCHECK_SECRET_KEY", batch_key);
        env.emplace("CARCHECK_ENDPOINT", std::nullopt);
        process_options o;
        o.args = std::move(args);
        o.env = std::move(env);
        o.stdin_data = std::move(stdin_data);
        return o;
    }

    process_result run(std::vector<std::string> args, std::map<std::string, std::optional<std::string>> env = {},
                       std::string stdin_data = {})
    {
        return carcheck_test::run_process(options(std::move(args), std::move(env), std::move(stdin_data)), 120s);
    }

    std::size_t recognize_requests() const
    {
        const auto all = server->requests();
        return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [](const auto& r) {
            return r.path.find("recognize") != std::string::npos;
        }));
    }
};

/// The value column of a summary row ("  label          value").
std::string summary_row(const std::string& err, const std::string& label)
{
    for (const auto& l : lines_of(err))
        if (l.rfind("  " + label + " ", 0) == 0)
            return l;
    return {};
}

} // namespace

BOOST_AUTO_TEST_SUITE(cli_batch_test)

BOOST_AUTO_TEST_CASE(resume_continues_the_format_the_file_holds)
{
    batch_fixture f;
    f.make_images("images", "FMT", 4);
    const std::string folder = (f.dir.path / "images").string();
    const fs::path csv = f.dir.path / "plates.csv";
    const auto first = f.run({"recognize", "--endpoint", f.http(), "--format", "csv", "--output", csv.string(), folder});
    BOOST_TEST_REQUIRE(first.exit_code == 0, first.err);
    const std::string before = read_text(csv);
    BOOST_TEST(f.recognize_requests() == 4u);

    // Without --format: the file is CSV, so the batch continues it as CSV (nothing to send).
    const auto resumed = f.run({"recognize", "--endpoint", f.http(), "--output", csv.string(), "--resume", folder});
    BOOST_TEST(resumed.exit_code == 0, resumed.err);
    BOOST_TEST(f.recognize_requests() == 4u);
    BOOST_TEST(read_text(csv) == before);
    BOOST_TEST(resumed.err.find("4 skipped") != std::string::npos, resumed.err);

    // An explicit other format is refused, and the file is left alone.
    const auto mixed = f.run({"recognize", "--endpoint", f.http(), "--format", "jsonl", "--output", csv.string(),
                              "--resume", folder});
    BOOST_TEST(mixed.exit_code == 2, mixed.err);
    BOOST_TEST(mixed.err.find("holds CSV") != std::string::npos, mixed.err);
    BOOST_TEST(read_text(csv) == before);

    // The reverse: JSON Lines resumed with --format csv.
    const fs::path jsonl = f.dir.path / "plates.jsonl";
    BOOST_TEST_REQUIRE(f.run({"recognize", "--endpoint", f.http(), "--output", jsonl.string(), folder}).exit_code == 0);
    const auto csv_into_jsonl = f.run({"recognize", "--endpoint", f.http(), "--format", "csv", "--output",
                                       jsonl.string(), "--resume", folder});
    BOOST_TEST(csv_into_jsonl.exit_code == 2, csv_into_jsonl.err);
    BOOST_TEST(csv_into_jsonl.err.find("holds JSON Lines") != std::string::npos, csv_into_jsonl.err);
    BOOST_TEST(jsonl_by_input(read_text(jsonl)).size() == 4u);

    // A file that is neither is not appended to.
    const auto other = carcheck_test::write_file(f.dir.path / "notes.txt", "shopping list\n");
    const auto r = f.run({"recognize", "--endpoint", f.http(), "--output", other.string(), "--resume", folder});
    BOOST_TEST(r.exit_code == 2, r.err);
    BOOST_TEST(read_text(other) == "shopping list\n");
}

BOOST_AUTO_TEST_CASE(names_that_are_not_utf8_are_valid_json_and_resume)
{
    batch_fixture f;
    const fs::path folder = f.dir.path / "latin1";
    fs::create_directories(folder);
    const std::string odd = (folder / "caf\xe9-\xff.jpg").string(); // Latin-1 bytes
    carcheck_test::write_file(odd, carcheck_test::image_bytes("LATIN1"));
    carcheck_test::write_file(folder / "plain.jpg", carcheck_test::image_bytes("PLAIN1"));
    const fs::path out = f.dir.path / "out.jsonl";
    const auto r = f.run({"recognize", "--endpoint", f.http(), "--output", out.string(), folder.string()});
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
    const auto lines = jsonl_by_input(read_text(out)); // every line valid JSON
    BOOST_TEST_REQUIRE(lines.count(odd) == 1u, read_text(out));
    BOOST_TEST(lines.at(odd).at("plate").as_string() == "LATIN1");
    // "input" stays readable: each invalid byte is U+FFFD there.
    BOOST_TEST(std::string(lines.at(odd).at("input").as_string()) ==
               (folder / "caf\xEF\xBF\xBD-\xEF\xBF\xBD.jpg").string());
    BOOST_TEST(lines.at((folder / "plain.jpg").string()).if_contains("input_hex") == nullptr);

    const auto again = f.run({"recognize", "--endpoint", f.http(), "--output", out.string(), "--resume", folder.string()});
    BOOST_TEST(again.exit_code == 0, again.err);
    BOOST_TEST(f.recognize_requests() == 2u); // neither sent again
    BOOST_TEST(jsonl_by_input(read_text(out)).size() == 2u);

    // CSV carries the bytes as they are and matches them on resume.
    const fs::path csv = f.dir.path / "out.csv";
    BOOST_TEST_REQUIRE(f.run({"recognize", "--endpoint", f.http(), "--format", "csv", "--output", csv.string(),
                              folder.string()}).exit_code == 0);
    BOOST_TEST(read_text(csv).find(odd + ",true,LATIN1,") != std::string::npos, read_text(csv));
    const auto csv_again = f.run({"recognize", "--endpoint", f.http(), "--output", csv.string(), "--resume",
                                  folder.string()});
    BOOST_TEST(csv_again.exit_code == 0, csv_again.err);
    BOOST_TEST(f.recognize_requests() == 4u);
}

BOOST_AUTO_TEST_CASE(resume_repairs_a_half_written_last_line)
{
    batch_fixture f;
    const auto paths = f.make_images("images", "HALF", 5);
    const std::string folder = (f.dir.path / "images").string();
    const fs::path out = f.dir.path / "out.jsonl";
    BOOST_TEST_REQUIRE(f.run({"recognize", "--endpoint", f.http(), "--output", out.string(), paths[0], paths[1]})
                           .exit_code == 0);
    { // what kill -9 in the middle of a write leaves
        std::ofstream o(out, std::ios::app | std::ios::binary);
        o << "{\"input\":\"" << paths[2] << "\",\"ok\":true,\"pla";
    }
    const auto r = f.run({"recognize", "--endpoint", f.http(), "--output", out.string(), "--resume", folder});
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(r.err.find("incomplete last line") != std::string::npos, r.err);
    const auto all = jsonl_by_input(read_text(out)); // valid JSON Lines throughout
    BOOST_TEST(all.size() == 5u);
    for (const auto& p : paths)
        BOOST_TEST(all.count(p) == 1u, p);
    BOOST_TEST(f.recognize_requests() == 5u);

    // CSV: a record cut inside a quoted field.
    const fs::path csv = f.dir.path / "out.csv";
    BOOST_TEST_REQUIRE(f.run({"recognize", "--endpoint", f.http(), "--format", "csv", "--output", csv.string(),
                              paths[0]}).exit_code == 0);
    {
        std::ofstream o(csv, std::ios::app | std::ios::binary);
        o << paths[1] << ",false,,,,,,,,,timeout,\"half a\nmessage";
    }
    const auto rc = f.run({"recognize", "--endpoint", f.http(), "--output", csv.string(), "--resume", folder});
    BOOST_TEST(rc.exit_code == 0, rc.err);
    const auto lines = lines_of(read_text(csv));
    BOOST_TEST_REQUIRE(lines.size() == 6u, read_text(csv));
    std::set<std::string> seen;
    for (std::size_t i = 1; i < lines.size(); ++i) {
        const auto name = lines[i].substr(0, lines[i].find(','));
        BOOST_TEST(seen.insert(name).second, name);
        BOOST_TEST(lines[i].find(",true,HALF") != std::string::npos, lines[i]);
    }
}

BOOST_AUTO_TEST_CASE(kill_9_then_resume_spends_no_credit_twice_beyond_the_bound)
{
    batch_fixture f;
    const int count = 1200;
    f.make_images("images", "K", count);
    const std::string folder = (f.dir.path / "images").string();
    const fs::path out = f.dir.path / "out.jsonl";
    const std::vector<std::string> args{"recognize", "--endpoint", f.http(), "--concurrency", "64", "--output",
                                        out.string(), "--resume", "--quiet", folder};
    {
        carcheck_test::child_process p(f.options(args));
        const bool some = p.wait_until([&] { return lines_of(read_text(out)).size() >= 200; }, 60s);
        BOOST_TEST_REQUIRE(some, "no output appeared: " << p.err());
        p.send_signal(SIGKILL);
        p.wait(30s);
    }
    const auto r = f.run(args);
    BOOST_TEST(r.exit_code == 0, r.err);
    const auto all = jsonl_by_input(read_text(out)); // valid, each input once
    BOOST_TEST(all.size() == static_cast<std::size_t>(count));
    for (const auto& [name, line] : all)
        BOOST_TEST(line.at("ok").as_bool(), name);
    // Lost to the kill: only replies that were still on their way (at most one per
    // connection), never replies the tool had already read.
    const auto spent = f.server->credits_used(batch_key);
    BOOST_TEST(spent >= count);
    BOOST_TEST(spent <= count + 64, "credits spent " << spent << " for " << count << " inputs");
}

BOOST_AUTO_TEST_CASE(a_failed_write_is_reported_and_not_counted)
{
    if (!fs::exists("/dev/full"))
        return;
    batch_fixture f;
    const auto img = f.make_images("one", "FULL", 1);
    // Standard output on /dev/full: the only line's write fails.
    process_options o = f.options({});
    o.args = {"/bin/sh", "-c", "exec \"$0\" recognize --endpoint \"$1\" \"$2\" > /dev/full", CARCHECK_CLI_EXECUTABLE,
              f.http(), img[0]};
    const auto r = carcheck_test::run_process(std::move(o), 60s);
    BOOST_TEST(r.exit_code == 1, r.err);
    BOOST_TEST(r.err.find("cannot write the output: standard output: No space left on device") != std::string::npos,
               r.err);
    BOOST_TEST(summary_row(r.err, "succeeded").find("succeeded      0") != std::string::npos, r.err);
    BOOST_TEST(summary_row(r.err, "not written").find(" 1 ") != std::string::npos, r.err);

    // A reader that has gone away: reported (EPIPE), not a silent death by SIGPIPE.
    process_options piped = f.options({});
    const std::string err_file = (f.dir.path / "err.txt").string();
    piped.args = {"/bin/sh", "-c", "\"$0\" recognize --endpoint \"$1\" \"$2\" 2>\"$3\" | true; cat \"$3\"",
                  CARCHECK_CLI_EXECUTABLE, f.http(), img[0], err_file};
    const auto p = carcheck_test::run_process(std::move(piped), 60s);
    BOOST_TEST(p.out.find("cannot write the output: standard output: Broken pipe") != std::string::npos, p.out);
    BOOST_TEST(p.out.find("carcheck summary:") != std::string::npos, p.out);
}

BOOST_AUTO_TEST_CASE(killing_the_service_stops_the_batch_and_resume_finishes_it)
{
    const int count = 2000;
    batch_fixture f; // its in-process mock stands in for the service once it is back
    f.make_images("images", "OUT", count);
    const std::string folder = (f.dir.path / "images").string();
    const fs::path out = f.dir.path / "out.jsonl";

    // The service: carcheck-mock as a process of its own, killed with SIGKILL mid-batch.
    process_options mo;
    mo.args = {CARCHECK_MOCK_EXECUTABLE, "--http-port", "0", "--no-https", "--quiet", "--key", batch_key};
    carcheck_test::child_process service(mo);
    BOOST_TEST_REQUIRE(service.wait_until([&] { return service.out().find('\n') != std::string::npos; }, 20s),
                       service.err());
    const auto at = service.out().find("http=");
    BOOST_TEST_REQUIRE(at != std::string::npos, service.out());
    const auto port = static_cast<unsigned short>(std::stoi(service.out().substr(at + 5)));
    const std::string endpoint = "http://127.0.0.1:" + std::to_string(port) + "/v3";
    const std::vector<std::string> args{"recognize", "--endpoint", endpoint, "--concurrency", "8", "--output",
                                        out.string(), "--resume", folder};
    {
        carcheck_test::child_process p(f.options(args));
        const bool some = p.wait_until([&] { return lines_of(read_text(out)).size() >= 200; }, 60s);
        BOOST_TEST_REQUIRE(some, "no output appeared: " << p.err());
        service.send_signal(SIGKILL);
        service.wait(10s);
        const auto t0 = std::chrono::steady_clock::now();
        const auto r = p.wait(30s);
        const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        BOOST_TEST(r.exit_code == 4, r.err);
        BOOST_TEST(took < 5.0, took << " s");
        std::size_t reasons = 0;
        for (const auto& l : lines_of(r.err))
            reasons += l.find("carcheck: service unreachable") != std::string::npos;
        BOOST_TEST(reasons == 1u, r.err); // printed once
    }
    const auto after_outage = jsonl_by_input(read_text(out));
    std::size_t error_lines = 0;
    for (const auto& [name, line] : after_outage)
        error_lines += !line.at("ok").as_bool();
    // A request in flight when the service died gets an error line when its connection
    // broke before a reply sent before the kill came in on another connection: the failure
    // was then not yet an outage, and the request may have been charged, so it is not sent
    // again. With 8 in flight that is up to 8 lines (7 seen in CI, usually fewer); more
    // would mean failures after the outage was known still getting lines.
    BOOST_TEST(error_lines <= 8u, error_lines << " error lines");
    BOOST_TEST_REQUIRE(after_outage.size() < static_cast<std::size_t>(count), "the batch ended before the kill");

    // The service is back on the same port: --resume sends exactly the inputs without a line.
    f.server = std::make_unique<mock::server>(batch_mock_options(2000ms, port));
    f.server->start();
    const auto r = carcheck_test::run_process(f.options(args), 120s);
    BOOST_TEST(r.exit_code == 0, r.err); // this run's inputs all succeed
    const auto all = jsonl_by_input(read_text(out)); // each input exactly once
    BOOST_TEST(all.size() == static_cast<std::size_t>(count));
    std::size_t ok = 0;
    for (const auto& [name, line] : all)
        ok += line.at("ok").as_bool();
    BOOST_TEST(ok + error_lines == static_cast<std::size_t>(count));
    BOOST_TEST(f.server->credits_used(batch_key) == static_cast<std::int64_t>(count - after_outage.size()));
}

BOOST_AUTO_TEST_CASE(refused_connections_and_unverifiable_tls_are_an_outage)
{
    batch_fixture f;
    f.make_images("images", "DOWN", 20);
    const std::string folder = (f.dir.path / "images").string();

    // Nothing listens on this port.
    unsigned short closed_port;
    {
        mock::server probe(batch_mock_options());
        probe.start();
        closed_port = probe.http_port();
    }
    const auto refused = f.run({"recognize", "--endpoint", "http://127.0.0.1:" + std::to_string(closed_port) + "/v3",
                                folder});
    BOOST_TEST(refused.exit_code == 4, refused.err);
    BOOST_TEST(refused.out.empty(), refused.out); // no line: --resume sends them later
    BOOST_TEST(refused.err.find("service unreachable") != std::string::npos, refused.err);

    // A TLS endpoint whose certificate is not trusted (no --ca-file).
    const auto tls = f.run({"recognize", "--endpoint", f.https(), folder});
    BOOST_TEST(tls.exit_code == 4, tls.err);
    BOOST_TEST(tls.out.empty(), tls.out);
    BOOST_TEST(f.recognize_requests() == 0u);

    // Connections that fail one after the other (reset before any reply): after
    // --max-connection-failures of them in a row, an outage too, and they get no line.
    {
        batch_fixture g;
        g.server->inject(mock::fault::reset_during_request, 1000);
        const auto closing = g.run({"recognize", "--endpoint", g.http(), "--concurrency", "1", "--retries", "0",
                                    "--max-connection-failures", "3", folder});
        BOOST_TEST(closing.exit_code == 4, closing.err);
        BOOST_TEST(closing.out.empty(), closing.out);
        BOOST_TEST(closing.err.find("3 connection failures in a row") != std::string::npos, closing.err);
        BOOST_TEST(g.server->requests().size() <= 6u); // stopped after 3 inputs
    }
    // Two failures that a reply follows are ordinary error lines: a transient fault.
    {
        batch_fixture g;
        g.server->inject(mock::fault::reset_during_request, 2);
        const auto two = g.run({"recognize", "--endpoint", g.http(), "--concurrency", "1", "--retries", "0",
                                "--max-connection-failures", "3", folder});
        BOOST_TEST(two.exit_code == 1, two.err);
        const auto lines = jsonl_by_input(two.out);
        BOOST_TEST(lines.size() == 20u, two.out);
        std::size_t failed = 0;
        for (const auto& [name, line] : lines)
            failed += !line.at("ok").as_bool();
        BOOST_TEST(failed == 2u, two.out);
    }
}

BOOST_AUTO_TEST_CASE(config_needs_no_key)
{
    batch_fixture f;
    const auto r = f.run({"config", "--endpoint", f.http()}, {{"CARCHECK_SECRET_KEY", std::nullopt}});
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(json::parse(r.out).at("countries").as_array().size() > 0u);
    const auto reqs = f.server->requests();
    BOOST_TEST_REQUIRE(reqs.size() == 1u);
    BOOST_TEST(reqs[0].path == "/v3/config");
    BOOST_TEST(reqs[0].query.count("secret_key") == 0u); // none sent
}

BOOST_AUTO_TEST_CASE(folder_entries_that_are_not_images_are_reported)
{
    batch_fixture f;
    const fs::path root = f.dir.path / "tree";
    fs::create_directories(root / "sub");
    carcheck_test::write_file(root / "a.jpg", carcheck_test::image_bytes("TREE1"));
    carcheck_test::write_file(root / "sub" / "b.jpg", carcheck_test::image_bytes("TREE2"));
    BOOST_TEST_REQUIRE(::mkfifo((root / "pipe.jpg").c_str(), 0600) == 0);
    fs::create_symlink(root / "gone.jpg", root / "dangling.jpg");
    fs::create_symlink(root / "loop2.jpg", root / "loop1.jpg");
    fs::create_symlink(root / "loop1.jpg", root / "loop2.jpg");
    {
        const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        const std::string path = (root / "s.jpg").string();
        BOOST_TEST_REQUIRE(path.size() < sizeof addr.sun_path);
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        BOOST_TEST_REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        ::close(s);
    }
    const auto r = f.run({"recognize", "--endpoint", f.http(), root.string()});
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(jsonl_by_input(r.out).size() == 2u);
    const auto row = summary_row(r.err, "not images");
    BOOST_TEST(row.find("5 folder entries skipped") != std::string::npos, r.err);
    for (const char* reason : {"FIFO: 1", "dangling symlink: 1", "socket: 1", "symlink loop: 2"})
        BOOST_TEST(row.find(reason) != std::string::npos, reason << " in " << row);

    // A folder inside the tree that cannot be read gets its line. Root reads every folder,
    // so this part runs the tool as "nobody" when the tests run as root.
    const fs::path locked = root / "locked";
    fs::create_directories(locked);
    carcheck_test::write_file(locked / "c.jpg", carcheck_test::image_bytes("TREE3"));
    fs::permissions(locked, fs::perms::none);
    process_options o = f.options({"recognize", "--endpoint", f.http(), root.string()});
    if (::geteuid() == 0) {
        if (::access("/usr/bin/setpriv", X_OK) != 0) {
            fs::permissions(locked, fs::perms::owner_all);
            BOOST_TEST_MESSAGE("setpriv not installed: unreadable folder check skipped");
            return;
        }
        // "nobody" must reach the tool and the tree: skip when an ancestor folder is closed to it.
        auto reachable = [](fs::path p) {
            for (p = p.parent_path(); p.has_relative_path(); p = p.parent_path())
                if ((fs::status(p).permissions() & fs::perms::others_exec) == fs::perms::none)
                    return false;
            return true;
        };
        if (!reachable(f.dir.path) || !reachable(CARCHECK_CLI_EXECUTABLE)) {
            fs::permissions(locked, fs::perms::owner_all);
            BOOST_TEST_MESSAGE("the test folder or the tool is not reachable by nobody: unreadable folder check skipped");
            return;
        }
        fs::permissions(f.dir.path, fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
        for (const auto& e : fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied)) {
            std::error_code ec;
            if (!e.is_symlink(ec) && e.path() != locked)
                fs::permissions(e.path(), fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add, ec);
        }
        o.args.insert(o.args.begin(), {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
    }
    const auto locked_run = carcheck_test::run_process(std::move(o), 60s);
    fs::permissions(locked, fs::perms::owner_all);
    BOOST_TEST(locked_run.exit_code == 1, locked_run.err);
    const auto lines = jsonl_by_input(locked_run.out);
    BOOST_TEST_REQUIRE(lines.count(locked.string()) == 1u, locked_run.out);
    BOOST_TEST(lines.at(locked.string()).at("error").as_string() == "folder_unreadable");
    BOOST_TEST(std::string(lines.at(locked.string()).at("message").as_string()).find("Permission denied") !=
               std::string::npos);
    BOOST_TEST(lines.size() == 3u, locked_run.out); // a.jpg and sub/b.jpg too
}

BOOST_AUTO_TEST_CASE(results_on_the_progress_bar_terminal_start_on_a_clean_line)
{
    if (::access("/usr/bin/script", X_OK) != 0) {
        BOOST_TEST_MESSAGE("script(1) not installed: pseudo-terminal check skipped");
        return;
    }
    batch_fixture f(batch_mock_options(300ms));
    f.server->inject(mock::fault::slow_headers, 1000);
    f.make_images("images", "TTY", 4);
    // stdout and stderr are the same pseudo-terminal.
    const std::string cmd = std::string(CARCHECK_CLI_EXECUTABLE) + " recognize --endpoint " + f.http() +
                            " --concurrency 1 " + (f.dir.path / "images").string();
    process_options o;
    o.args = {"/usr/bin/script", "-q", "-e", "-c", cmd, "/dev/null"};
    o.env = {{"CARCHECK_SECRET_KEY", batch_key}, {"CARCHECK_ENDPOINT", std::nullopt}, {"TERM", "dumb"}};
    const auto r = carcheck_test::run_process(std::move(o), 90s);
    BOOST_TEST(r.exit_code == 0, r.out << r.err);
    BOOST_TEST(r.out.find("\r[") != std::string::npos, r.out); // the bar was drawn
    std::size_t results = 0;
    for (auto pos = r.out.find("{\"input\""); pos != std::string::npos; pos = r.out.find("{\"input\"", pos + 1)) {
        ++results;
        // After a newline, or after the bar was erased ("\r\x1b[K"; a drawn bar ends "...s\x1b[K").
        const bool clean = pos == 0 || r.out[pos - 1] == '\n' || (pos >= 4 && r.out.compare(pos - 4, 4, "\r\x1b[K") == 0);
        BOOST_TEST(clean, "result glued to the bar: " << r.out.substr(pos > 60 ? pos - 60 : 0, 80));
    }
    BOOST_TEST(results == 4u, r.out);
}

BOOST_AUTO_TEST_CASE(summary_figures)
{
    batch_fixture f;
    f.make_images("images", "SUM", 6);
    // --rate 4 with 6 in flight at once: the holds overlap; what counts is the wall-clock time
    // with at least one held (about 1.25 s), not their sum (about 4 s).
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = f.run({"recognize", "--endpoint", f.http(), "--rate", "4", "--concurrency", "6",
                          (f.dir.path / "images").string()});
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    BOOST_TEST(r.exit_code == 0, r.err);
    const auto throttled = summary_row(r.err, "throttled");
    BOOST_TEST_REQUIRE(!throttled.empty(), r.err);
    const double held = std::stod(throttled.substr(17));
    BOOST_TEST(held >= 0.8, throttled);
    BOOST_TEST(held <= wall + 0.05, throttled << " in a run of " << wall << " s"); // printed to 0.1 s
    BOOST_TEST(held < 2.0, throttled); // the sum over the requests would be about 3.75 s
    BOOST_TEST(summary_row(r.err, "credits").find("used by this run 6; this month 6 of") != std::string::npos, r.err);
    BOOST_TEST(!summary_row(r.err, "latency").empty(), r.err);
    // Every value starts in the same column.
    bool in_summary = false;
    for (const auto& l : lines_of(r.err)) {
        if (l == "carcheck summary:") {
            in_summary = true;
            continue;
        }
        if (in_summary) {
            BOOST_TEST(l.size() > 17u, l);
            BOOST_TEST(l[16] == ' ', l);
            BOOST_TEST(l[17] != ' ', l);
        }
    }

    // Nothing succeeded: no latency figures.
    const auto none = f.run({"recognize", "--endpoint", f.http(), (f.dir.path / "missing.jpg").string()});
    BOOST_TEST(none.exit_code == 1, none.err);
    BOOST_TEST(summary_row(none.err, "latency").empty(), none.err);
    BOOST_TEST(none.err.find("p50") == std::string::npos, none.err);
}

BOOST_AUTO_TEST_CASE(timeout_limits_are_explained)
{
    batch_fixture f;
    const auto img = f.make_images("t", "TIME", 1);
    const auto huge = f.run({"recognize", "--endpoint", f.http(), "--timeout", "1e12", img[0]});
    BOOST_TEST(huge.exit_code == 2, huge.err);
    BOOST_TEST(huge.err.find("--timeout is at most 31536000 seconds") != std::string::npos, huge.err);
    BOOST_TEST(huge.err.find("positive") == std::string::npos, huge.err);
    const auto negative = f.run({"recognize", "--endpoint", f.http(), "--timeout", "-3", img[0]});
    BOOST_TEST(negative.exit_code == 2);
    BOOST_TEST(negative.err.find("positive") != std::string::npos, negative.err);
    const auto year = f.run({"recognize", "--endpoint", f.http(), "--timeout", "31536000", img[0]});
    BOOST_TEST(year.exit_code == 0, year.err);
}

BOOST_AUTO_TEST_CASE(memory_does_not_grow_with_the_number_of_inputs)
{
    if (::access("/usr/bin/time", X_OK) != 0) {
        BOOST_TEST_MESSAGE("/usr/bin/time not installed: memory check skipped");
        return;
    }
    batch_fixture f;
    // Paths that do not exist, on stdin: each gets its error line, none is sent.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    const int count = 30000; // the sanitizers' own memory dwarfs the figure: run, do not measure
#else
    const int count = 100000;
#endif
    std::string paths;
    for (int i = 0; i < count; ++i)
        paths += f.dir.path.string() + "/no/such/folder/frame-" + std::to_string(1000000 + i) + ".jpg\n";
    process_options o = f.options({"recognize", "--endpoint", f.http(), "--quiet", "--output",
                                   (f.dir.path / "out.jsonl").string(), "-"},
                                  {}, paths);
    o.args.insert(o.args.begin(), {"/usr/bin/time", "-f", "peak-rss-kb %M"});
    const auto r = carcheck_test::run_process(std::move(o), 300s);
    BOOST_TEST(r.exit_code == 1, r.err);
    const auto at = r.err.rfind("peak-rss-kb ");
    BOOST_TEST_REQUIRE(at != std::string::npos, r.err);
    const long kb = std::stol(r.err.substr(at + 12));
    BOOST_TEST_MESSAGE("peak RSS for " << count << " inputs: " << kb << " KiB");
    BOOST_TEST(lines_of(read_text(f.dir.path / "out.jsonl")).size() == static_cast<std::size_t>(count));
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    // 64 MiB here before (0.5 KB an input); now 13 MiB: a 16-byte hash slot per name (2-4 MiB
    // with the table's slack) on top of the process's own ~7 MiB.
    BOOST_TEST(kb < 32 * 1024);
#endif
}

BOOST_AUTO_TEST_SUITE_END()

#endif
