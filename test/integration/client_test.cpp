// The four API operations end to end against the bundled mock server.
#include "support/mock_fixture.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <atomic>
#include <memory>
#include <thread>

using namespace carcheck_test;
namespace mock = carcheck::mock;

namespace {

const std::string odd_key = "s3cr3t+key&x=1/%20 \xc3\xa9";

mock::server_options odd_key_options()
{
    auto o = default_mock_options();
    o.keys.push_back(mock::key_config{.key = odd_key});
    return o;
}

void check_no_key(const std::string& text, const std::string& key)
{
    BOOST_TEST(text.find(key) == std::string::npos, "secret key leaked into: " << "[text withheld]");
}

/// A plain HTTP server on 127.0.0.1 that answers every request with `reply` as soon as its
/// header has arrived and closes, without reading the body: as a front end refusing a wrong
/// key does. Counts the connections it accepted.
class early_answer_server {
public:
    explicit early_answer_server(std::string reply)
        : reply_(std::move(reply)), acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0})
    {
        accept();
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~early_answer_server()
    {
        ioc_.stop();
        thread_.join();
    }
    unsigned short port() const { return acceptor_.local_endpoint().port(); }
    std::size_t connections() const { return connections_.load(); }

private:
    using tcp = asio::ip::tcp;
    void accept()
    {
        acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
            if (ec)
                return;
            ++connections_;
            auto sock = std::make_shared<tcp::socket>(std::move(s));
            auto head = std::make_shared<std::string>();
            asio::async_read_until(*sock, asio::dynamic_buffer(*head), "\r\n\r\n",
                                   [this, sock, head](boost::system::error_code rec, std::size_t) {
                                       if (rec)
                                           return;
                                       asio::async_write(*sock, asio::buffer(reply_),
                                                         [sock](boost::system::error_code, std::size_t) {
                                                             boost::system::error_code ignored;
                                                             sock->shutdown(tcp::socket::shutdown_send, ignored);
                                                             sock->close(ignored);
                                                         });
                                   });
            accept();
        });
    }

    std::string reply_;
    asio::io_context ioc_;
    tcp::acceptor acceptor_;
    std::atomic<std::size_t> connections_{0};
    std::thread thread_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(client_test)

BOOST_AUTO_TEST_CASE(get_config_over_tls)
{
    mock_fixture f;
    carcheck::client c(f.ioc.get_executor(), f.options());
    auto cfg = f.run(c.get_config());
    BOOST_TEST(!cfg.countries.empty());
    bool has_us = false;
    for (const auto& country : cfg.countries)
        has_us = has_us || country.code == "us";
    BOOST_TEST(has_us);
    BOOST_TEST(!cfg.labels.color.empty());
    BOOST_TEST(!cfg.raw_json.empty());
    BOOST_TEST(f.server.get_stats().tls_handshakes >= 1u);
}

BOOST_AUTO_TEST_CASE(recognize_file_multipart_with_every_parameter)
{
    mock_fixture f;
    carcheck::client c(f.ioc.get_executor(), f.options());
    auto path = f.image("ABC123");
    carcheck::recognize_options opts{.country = "eu", .recognize_vehicle = true, .return_image = true,
                                     .topn = 3, .is_cropped = true};
    auto r = f.run(c.recognize_file(path, opts));
    BOOST_REQUIRE_EQUAL(r.results.size(), 1u);
    BOOST_TEST(r.results[0].plate == "ABC123");
    BOOST_TEST(r.results[0].candidates.size() == 3u);
    BOOST_TEST(r.results[0].candidates[0].plate == "ABC123");
    BOOST_TEST(r.results[0].vehicle.has_value());
    BOOST_TEST(r.credit_cost == 2);
    BOOST_REQUIRE(r.image_bytes.has_value());
    BOOST_TEST(!r.image_bytes->empty());

    auto records = f.server.requests();
    BOOST_REQUIRE_EQUAL(records.size(), 1u);
    const auto& rec = records.back();
    BOOST_TEST(rec.method == "POST");
    BOOST_TEST(rec.path == "/v3/recognize");
    BOOST_TEST(rec.query.at("country") == "eu");
    BOOST_TEST(rec.query.at("recognize_vehicle") == "1");
    BOOST_TEST(rec.query.at("return_image") == "1");
    BOOST_TEST(rec.query.at("topn") == "3");
    BOOST_TEST(rec.query.at("is_cropped") == "1");
    BOOST_TEST(rec.image_field_name == "image");
    BOOST_TEST(rec.image_filename == "ABC123.jpg");
    BOOST_TEST(rec.image_content_type == "image/jpeg");
    BOOST_TEST(rec.image_size == fs::file_size(path));
    BOOST_TEST(rec.status == 200u);
}

BOOST_AUTO_TEST_CASE(vehicles_only_when_asked)
{
    mock_fixture f;
    carcheck::client c(f.ioc.get_executor(), f.options());
    auto path = f.image("XYZ9");
    carcheck::recognize_options opts;
    auto r = f.run(c.recognize_file(path, opts));
    BOOST_REQUIRE_EQUAL(r.results.size(), 1u);
    BOOST_TEST(!r.results[0].vehicle.has_value());
    BOOST_TEST(r.vehicles.empty());
    BOOST_TEST(r.credit_cost == 1);
    BOOST_TEST(f.server.requests().back().query.count("topn") == 0u);
}

BOOST_AUTO_TEST_CASE(recognize_bytes_and_base64_file_give_the_same_plate)
{
    mock_fixture f;
    carcheck::client c(f.ioc.get_executor(), f.options());
    const std::string bytes = image_bytes("BYTES1", 5000);
    auto path = write_file(f.dir.path / "b.jpg", bytes);
    carcheck::recognize_options opts{.country = "us", .topn = 2};
    std::span<const std::byte> span{reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()};
    auto r1 = f.run(c.recognize_bytes(span, opts));
    auto r2 = f.run(c.recognize_base64_file(path, opts));
    BOOST_REQUIRE_EQUAL(r1.results.size(), 1u);
    BOOST_TEST(r1.results[0].plate == "BYTES1");
    BOOST_REQUIRE_EQUAL(r2.results.size(), 1u);
    BOOST_TEST(r2.results[0].plate == "BYTES1");
    auto records = f.server.requests();
    BOOST_REQUIRE_EQUAL(records.size(), 2u);
    for (const auto& rec : records) {
        BOOST_TEST(rec.path == "/v3/recognize_bytes");
        BOOST_TEST(rec.content_type == "application/json");
        BOOST_TEST(rec.image_size == bytes.size());
    }
    BOOST_TEST(records[0].image_sha256 == records[1].image_sha256);
}

BOOST_AUTO_TEST_CASE(recognize_url_is_encoded_and_refused_for_non_loopback)
{
    mock_fixture f;
    carcheck::client c(f.ioc.get_executor(), f.options());
    carcheck::recognize_options opts;
    carcheck::diagnostics diag;
    const std::string url = "http://203.0.113.7/car.jpg?a=1&b=2";
    auto [ec, r] = f.run(c.recognize_url(url, opts, diag, asio::as_tuple(asio::deferred)));
    BOOST_TEST(ec == carcheck::error::invalid_parameter);
    BOOST_TEST(diag.http_status == 400u);
    BOOST_TEST(diag.server_message.find("image_url") != std::string::npos);
    auto rec = f.server.requests().back();
    BOOST_TEST(rec.path == "/v3/recognize_url");
    BOOST_TEST(rec.query.at("image_url") == url);
}

BOOST_AUTO_TEST_CASE(recognize_url_from_loopback)
{
    mock_fixture f;
    // A one-shot HTTP server on loopback serving the image the mock will fetch.
    asio::io_context side;
    asio::ip::tcp::acceptor acceptor(side, {asio::ip::make_address("127.0.0.1"), 0});
    const auto port = acceptor.local_endpoint().port();
    const std::string body = image_bytes("URL777");
    std::thread server([&] {
        asio::ip::tcp::socket s(side);
        acceptor.accept(s);
        asio::streambuf req;
        boost::system::error_code ec;
        asio::read_until(s, req, "\r\n\r\n", ec);
        const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
        asio::write(s, asio::buffer(head + body), ec);
    });
    carcheck::client c(f.ioc.get_executor(), f.options());
    carcheck::recognize_options opts;
    auto r = f.run(c.recognize_url("http://127.0.0.1:" + std::to_string(port) + "/car.jpg", opts));
    server.join();
    BOOST_REQUIRE_EQUAL(r.results.size(), 1u);
    BOOST_TEST(r.results[0].plate == "URL777");
}

BOOST_AUTO_TEST_CASE(plain_http_to_loopback)
{
    mock_fixture f;
    carcheck::client c(f.ioc.get_executor(), f.options(false));
    auto path = f.image("PLAIN1");
    carcheck::recognize_options opts;
    auto r = f.run(c.recognize_file(path, opts));
    BOOST_REQUIRE_EQUAL(r.results.size(), 1u);
    BOOST_TEST(r.results[0].plate == "PLAIN1");
    BOOST_TEST(f.server.get_stats().tls_handshakes == 0u);
}

BOOST_AUTO_TEST_CASE(invalid_arguments_are_rejected_before_sending)
{
    mock_fixture f;
    carcheck::client c(f.ioc.get_executor(), f.options());
    auto good = f.image("GOOD1");
    auto empty = write_file(f.dir.path / "empty.jpg", "");
    auto expect = [&](auto op, const std::string& needle) {
        carcheck::diagnostics diag;
        auto [ec, r] = f.run(op(diag));
        BOOST_TEST(ec == carcheck::error::invalid_argument, needle << ": " << ec.message());
        BOOST_TEST(diag.client_message.find(needle) != std::string::npos,
                   "'" << diag.client_message << "' should mention '" << needle << "'");
        BOOST_TEST(diag.http_status == 0u);
    };
    using opts_t = carcheck::recognize_options;
    auto file_op = [&](fs::path p, opts_t o) {
        return [&c, p, o](carcheck::diagnostics& d) { return c.recognize_file(p, o, d, asio::as_tuple(asio::deferred)); };
    };
    opts_t no_country;
    no_country.country.clear();
    expect(file_op(good, no_country), "country");
    expect(file_op(good, opts_t{.topn = 0}), "topn");
    expect(file_op(good, opts_t{.topn = 1001}), "topn");
    expect(file_op(f.dir.path / "missing.jpg", opts_t{}), "missing.jpg");
    expect(file_op(empty, opts_t{}), "empty.jpg");
    expect(file_op(f.dir.path, opts_t{}), f.dir.path.filename().string());
    expect([&](carcheck::diagnostics& d) {
        opts_t o;
        o.is_cropped = true;
        return c.recognize_base64_file(good, o, d, asio::as_tuple(asio::deferred));
    }, "is_cropped");
    expect([&](carcheck::diagnostics& d) {
        opts_t o;
        return c.recognize_bytes(std::span<const std::byte>{}, o, d, asio::as_tuple(asio::deferred));
    }, "empty");
    expect([&](carcheck::diagnostics& d) {
        opts_t o;
        return c.recognize_url("not a url", o, d, asio::as_tuple(asio::deferred));
    }, "image_url");
    expect([&](carcheck::diagnostics& d) {
        opts_t o;
        return c.recognize_url("ftp://127.0.0.1/a.jpg", o, d, asio::as_tuple(asio::deferred));
    }, "image_url");
    BOOST_TEST(f.server.requests().empty());

    auto no_key = f.options();
    no_key.secret_key.clear();
    carcheck::client c2(f.ioc.get_executor(), no_key);
    carcheck::diagnostics diag;
    // GET /config has no parameters (spec): without a key it is sent, without one.
    auto [ec, cfg] = f.run(c2.get_config(diag, asio::as_tuple(asio::deferred)));
    BOOST_TEST(!ec, ec.message() << " " << diag.describe(ec));
    BOOST_TEST(!cfg.countries.empty());
    BOOST_TEST_REQUIRE(f.server.requests().size() == 1u);
    BOOST_TEST(f.server.requests().back().path == "/v3/config");
    BOOST_TEST(f.server.requests().back().query.count("secret_key") == 0u);
    // The operations that need a key still refuse an empty one before sending.
    carcheck::diagnostics diag2;
    auto [ec2, r2] = f.run(c2.recognize_url("http://127.0.0.1/a.jpg", carcheck::recognize_options{}, diag2,
                                            asio::as_tuple(asio::deferred)));
    BOOST_TEST(ec2 == carcheck::error::invalid_argument);
    BOOST_TEST(diag2.client_message.find("secret_key") != std::string::npos);
    BOOST_TEST(f.server.requests().size() == 1u);
}

BOOST_AUTO_TEST_CASE(error_statuses_reach_the_caller)
{
    auto o = default_mock_options();
    o.keys.push_back(mock::key_config{.key = "poor-key", .monthly_credits = 1});
    o.keys.push_back(mock::key_config{.key = "busy-key", .rate_limit = 1, .window = std::chrono::seconds(3600)});
    mock_fixture f(o);
    auto path = f.image("ERR1");
    carcheck::recognize_options opts;

    auto with_key = [&](const std::string& key) {
        auto co = f.options();
        co.secret_key = key;
        return co;
    };
    {
        carcheck::client c(f.ioc.get_executor(), with_key("wrong-key"));
        carcheck::diagnostics diag;
        auto [ec, r] = f.run(c.recognize_file(path, opts, diag, asio::as_tuple(asio::deferred)));
        BOOST_TEST(ec == carcheck::error::invalid_secret_key);
        BOOST_TEST(diag.http_status == 401u);
        BOOST_TEST(!diag.server_message.empty());
        check_no_key(diag.describe(ec), "wrong-key");
    }
    {
        carcheck::client c(f.ioc.get_executor(), with_key("poor-key"));
        auto first = f.run(c.recognize_file(path, opts));
        BOOST_TEST(first.credits_monthly_used == 1);
        carcheck::diagnostics diag;
        auto [ec, r] = f.run(c.recognize_file(path, opts, diag, asio::as_tuple(asio::deferred)));
        BOOST_TEST(ec == carcheck::error::monthly_limit);
        BOOST_TEST(diag.http_status == 402u);
    }
    {
        carcheck::client c(f.ioc.get_executor(), with_key("busy-key"));
        (void)f.run(c.recognize_file(path, opts));
        // A second client that knows nothing of the spent window and does not retry gets
        // the 403 (the first would hold the request until the window resets).
        auto no_retry = with_key("busy-key");
        carcheck::backoff_options once;
        once.max_attempts = 1;
        no_retry.scheduling.retry = std::make_shared<carcheck::exponential_backoff>(once);
        no_retry.scheduling.max_rate_limited_wait = std::chrono::milliseconds{0}; // 403s are retried for a time
        carcheck::client c2(f.ioc.get_executor(), no_retry);
        carcheck::diagnostics diag;
        auto [ec, r] = f.run(c2.recognize_file(path, opts, diag, asio::as_tuple(asio::deferred)));
        BOOST_TEST(ec == carcheck::error::rate_limited);
        BOOST_TEST(diag.http_status == 403u);
        BOOST_TEST(diag.rate_limit.limit.value_or(-1) == 1);
        BOOST_TEST(diag.rate_limit.remaining.value_or(-1) == 0);
        BOOST_TEST(diag.rate_limit.reset_epoch.has_value());
        BOOST_TEST(diag.rate_limit.server_date.has_value());
    }
    {
        carcheck::client c(f.ioc.get_executor(), f.options());
        f.server.inject(mock::fault::status_502);
        carcheck::diagnostics diag;
        auto [ec, r] = f.run(c.recognize_file(path, opts, diag, asio::as_tuple(asio::deferred)));
        BOOST_TEST(ec == carcheck::error::unexpected_status);
        BOOST_TEST(diag.http_status == 502u);
    }
}

BOOST_AUTO_TEST_CASE(refusals_without_rate_limit_headers)
{
    // The live service's 401 and 402 carry no X-RateLimit-* headers (the mock answers so):
    // the client reports them with the server's text and error_code and is not held up.
    auto o = default_mock_options();
    o.keys.push_back(mock::key_config{.key = "poor-key", .monthly_credits = 1});
    mock_fixture f(o);
    auto path = f.image("HDR1");
    carcheck::recognize_options opts;
    auto co = f.options();
    co.secret_key = "later-key";
    {
        carcheck::client c(f.ioc.get_executor(), co);
        carcheck::diagnostics diag;
        auto [ec, r] = f.run(c.recognize_file(path, opts, diag, asio::as_tuple(asio::deferred)));
        BOOST_TEST(ec == carcheck::error::invalid_secret_key);
        BOOST_TEST(diag.http_status == 401u);
        BOOST_TEST(diag.server_message == "Invalid credentials");
        BOOST_TEST(diag.server_error_code.value_or(0) == 401);
        BOOST_TEST(!diag.rate_limit.limit.has_value());
        BOOST_TEST(!diag.rate_limit.remaining.has_value());
        BOOST_TEST(!diag.rate_limit.reset_epoch.has_value());
        BOOST_TEST(diag.attempts == 1u);
        // Once the key exists the same client goes ahead at once.
        f.server.set_key({.key = "later-key"});
        const auto started = std::chrono::steady_clock::now();
        BOOST_TEST(f.run(c.recognize_file(path, opts)).results.at(0).plate == "HDR1");
        BOOST_TEST((std::chrono::steady_clock::now() - started < std::chrono::seconds(5)));
    }
    {
        co.secret_key = "poor-key";
        carcheck::client c(f.ioc.get_executor(), co);
        (void)f.run(c.recognize_file(path, opts));
        carcheck::diagnostics diag;
        auto [ec, r] = f.run(c.recognize_file(path, opts, diag, asio::as_tuple(asio::deferred)));
        BOOST_TEST(ec == carcheck::error::monthly_limit);
        BOOST_TEST(diag.http_status == 402u);
        BOOST_TEST(diag.server_message == "Monthly Usage (1) exceeded for this month");
        BOOST_TEST(diag.server_error_code.value_or(0) == 402);
        BOOST_TEST(!diag.rate_limit.limit.has_value());
        BOOST_TEST(diag.describe(ec) == "monthly credit limit exceeded (HTTP 402): Monthly Usage (1) exceeded for this month",
                   diag.describe(ec));
        // The next request is not sent; after more credits and a reset it is.
        const auto sent = f.server.requests().size();
        auto [ec2, r2] = f.run(c.recognize_file(path, opts, diag, asio::as_tuple(asio::deferred)));
        BOOST_TEST(ec2 == carcheck::error::monthly_limit);
        BOOST_TEST(f.server.requests().size() == sent);
        f.server.set_key({.key = "poor-key", .monthly_credits = 10});
        c.reset_credits_exhausted();
        BOOST_TEST(f.run(c.recognize_file(path, opts)).credits_monthly_used == 1);
    }
}

BOOST_AUTO_TEST_CASE(a_reply_before_the_upload_ends_is_the_outcome)
{
    // The server answers an upload above its limit from the header (413) and closes while
    // the client is still writing: the client reports that reply, not the broken pipe or
    // reset of its write, and never sends the request again.
    auto o = default_mock_options();
    o.max_body_bytes = 64 * 1024;
    mock_fixture f(o);
    // More than the socket buffers on both sides hold, so the write cannot finish before
    // the server closes. Sparse: no disk space, quick to make.
    const auto path = write_file(f.dir.path / "big.jpg", image_bytes("EARLY1"));
    fs::resize_file(path, 48u << 20);
    carcheck::recognize_options opts;
    int round = 0;
    for (bool tls : {true, false})
        for (bool base64 : {false, true}) {
            BOOST_TEST_CONTEXT("tls " << tls << " base64 " << base64)
            {
                carcheck::client c(f.ioc.get_executor(), f.options(tls));
                carcheck::diagnostics diag;
                auto [ec, r] = base64 ? f.run(c.recognize_base64_file(path, opts, diag, asio::as_tuple(asio::deferred)))
                                      : f.run(c.recognize_file(path, opts, diag, asio::as_tuple(asio::deferred)));
                BOOST_TEST(ec == carcheck::error::unexpected_status, ec.message());
                BOOST_TEST(diag.http_status == 413u);
                BOOST_TEST(diag.server_message == "request body larger than the limit of 65536 bytes");
                BOOST_TEST(diag.server_error_code.value_or(0) == 413);
                BOOST_TEST(diag.client_message == "the server replied before the whole request was sent");
                BOOST_TEST(diag.attempts == 1u);
                const auto counters = c.scheduling_counters();
                BOOST_TEST(counters.retried_transport == 0u);
                BOOST_TEST(counters.sent == 1u);
                const auto records = f.server.requests();
                BOOST_TEST_REQUIRE(records.size() == static_cast<std::size_t>(++round)); // sent once
                BOOST_TEST(records.back().status == 413u);
                BOOST_TEST(records.back().body_size == 0u);
                // The connection is not reused: the next request gets a fresh one and goes through.
                auto small = f.image("AFTER1");
                BOOST_TEST(f.run(c.recognize_file(small, opts)).results.at(0).plate == "AFTER1");
                ++round;
            }
        }
}

BOOST_AUTO_TEST_CASE(an_early_401_is_the_outcome_and_is_not_resent)
{
    const std::string body = R"({"error_code": 401, "error": "Invalid credentials"})";
    early_answer_server server("HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json; charset=\"utf-8\"\r\n"
                               "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    mock_fixture f;
    const auto path = write_file(f.dir.path / "big.jpg", image_bytes("EARLY2"));
    fs::resize_file(path, 48u << 20); // more than the socket buffers hold
    auto co = f.options(false);
    co.endpoint = "http://127.0.0.1:" + std::to_string(server.port()) + "/v3";
    co.secret_key = "wrong-key";
    carcheck::client c(f.ioc.get_executor(), co);
    carcheck::diagnostics diag;
    auto [ec, r] = f.run(c.recognize_file(path, carcheck::recognize_options{}, diag, asio::as_tuple(asio::deferred)));
    BOOST_TEST(ec == carcheck::error::invalid_secret_key, ec.message());
    BOOST_TEST(diag.http_status == 401u);
    BOOST_TEST(diag.server_message == "Invalid credentials");
    BOOST_TEST(diag.server_error_code.value_or(0) == 401);
    BOOST_TEST(diag.client_message == "the server replied before the whole request was sent");
    BOOST_TEST(diag.attempts == 1u);
    BOOST_TEST(server.connections() == 1u);
    BOOST_TEST(c.scheduling_counters().retried_transport == 0u);
}

BOOST_AUTO_TEST_CASE(with_diagnostics_throws_api_error)
{
    mock_fixture f;
    auto co = f.options();
    co.secret_key = "unknown-key";
    carcheck::client c(f.ioc.get_executor(), co);
    auto path = f.image("THROW1");
    carcheck::recognize_options opts;
    bool thrown = false;
    f.run([&]() -> asio::awaitable<void> {
        try {
            co_await c.recognize_file(path, opts, carcheck::with_diagnostics(asio::deferred));
        } catch (const carcheck::api_error& e) {
            thrown = true;
            BOOST_TEST(e.code() == carcheck::error::invalid_secret_key);
            BOOST_TEST(e.get_diagnostics().http_status == 401u);
            BOOST_TEST(std::string(e.what()).find("HTTP 401") != std::string::npos);
            check_no_key(e.what(), "unknown-key");
        }
    }());
    BOOST_TEST(thrown);

    // Callbacks and futures work with the same adapter.
    std::exception_ptr seen;
    c.recognize_file(path, opts, carcheck::with_diagnostics([&](std::exception_ptr ep, carcheck::recognition) {
        seen = ep;
    }));
    f.ioc.restart();
    while (!seen && f.ioc.run_one_for(std::chrono::seconds(60))) {
    }
    BOOST_REQUIRE(seen);
    BOOST_CHECK_THROW(std::rethrow_exception(seen), carcheck::api_error);
}

BOOST_AUTO_TEST_CASE(callbacks_and_futures)
{
    mock_fixture f;
    carcheck::client c(f.ioc.get_executor(), f.options());
    std::thread runner;
    auto guard = asio::make_work_guard(f.ioc);
    runner = std::thread([&] { f.ioc.run(); });
    std::future<carcheck::config> fut = c.get_config(asio::use_future);
    BOOST_TEST(!fut.get().countries.empty());
    std::promise<carcheck::error_code> p;
    c.get_config([&](carcheck::error_code ec, carcheck::config) { p.set_value(ec); });
    BOOST_TEST(!p.get_future().get());
    guard.reset();
    c.close();
    f.ioc.stop();
    runner.join();
}

// Where a handler runs: on its associated executor, whatever kind (another io_context, a
// thread pool, one only a type-erased handler knows), else on the client's executor.
BOOST_AUTO_TEST_CASE(handlers_complete_on_their_executor)
{
    mock_fixture f;
    carcheck::client c(f.ioc.get_executor(), f.options());
    asio::io_context other;
    auto other_work = asio::make_work_guard(other);
    std::thread other_thread([&] { other.run(); });
    asio::thread_pool pool(1);
    int outstanding = 5;
    std::atomic<int> on_other{0}, on_pool{0}, on_client{0}, erased_on_other{0}, diag_on_other{0};
    asio::steady_timer all_done(f.ioc, std::chrono::steady_clock::time_point::max());
    auto done = [&] {
        asio::post(f.ioc, [&] {
            if (--outstanding == 0)
                all_done.cancel();
        });
    };
    c.get_config(asio::bind_executor(other, [&](carcheck::error_code ec, carcheck::config) {
        on_other = !ec && other.get_executor().running_in_this_thread();
        done();
    }));
    c.get_config(asio::bind_executor(pool, [&](carcheck::error_code ec, carcheck::config) {
        on_pool = !ec && pool.get_executor().running_in_this_thread();
        done();
    }));
    c.get_config([&](carcheck::error_code ec, carcheck::config) {
        on_client = !ec && f.ioc.get_executor().running_in_this_thread();
        done();
    });
    // A handler already type-erased by the caller: its executor is known to it only.
    asio::any_completion_handler<void(carcheck::error_code, carcheck::config)> erased =
        asio::bind_executor(other, [&](carcheck::error_code ec, carcheck::config) {
            erased_on_other = !ec && other.get_executor().running_in_this_thread();
            done();
        });
    c.get_config(std::move(erased));
    c.get_config(carcheck::with_diagnostics(asio::bind_executor(other, [&](std::exception_ptr ep, carcheck::config) {
        diag_on_other = !ep && other.get_executor().running_in_this_thread();
        done();
    })));
    f.run(all_done.async_wait(asio::as_tuple(asio::use_awaitable)));
    BOOST_TEST(outstanding == 0);
    BOOST_TEST(on_other.load() == 1);
    BOOST_TEST(on_pool.load() == 1);
    BOOST_TEST(on_client.load() == 1);
    BOOST_TEST(erased_on_other.load() == 1);
    BOOST_TEST(diag_on_other.load() == 1);
    other_work.reset();
    other_thread.join();
    pool.join();
}

BOOST_AUTO_TEST_CASE(secret_key_is_encoded_and_never_printed)
{
    mock_fixture f(odd_key_options());
    auto co = f.options();
    co.secret_key = odd_key;
    carcheck::client c(f.ioc.get_executor(), co);
    auto path = f.image("KEY1");
    carcheck::recognize_options opts;
    auto r = f.run(c.recognize_file(path, opts));
    BOOST_TEST(r.results.size() == 1u);
    BOOST_TEST(f.server.requests().back().query.at("secret_key") == odd_key);

    // Every error path: none of the messages contains the key (raw or encoded).
    const std::vector<mock::fault> faults{mock::fault::status_500, mock::fault::malformed_json,
                                          mock::fault::close_before_response, mock::fault::html_200,
                                          mock::fault::truncated_body};
    for (auto fault : faults) {
        f.server.inject(fault);
        carcheck::diagnostics diag;
        auto [ec, rr] = f.run(c.recognize_file(path, opts, diag, asio::as_tuple(asio::deferred)));
        BOOST_TEST(ec.failed());
        check_no_key(diag.describe(ec), odd_key);
        check_no_key(diag.describe(ec), "s3cr3t");
    }
}

BOOST_AUTO_TEST_CASE(tls_verification)
{
    // A certificate for another name is refused.
    auto o = default_mock_options();
    o.tls_hostname = "other.example";
    mock_fixture f(o);
    auto co = f.options();
    carcheck::client c(f.ioc.get_executor(), co);
    carcheck::diagnostics diag;
    auto [ec, cfg] = f.run(c.get_config(diag, asio::as_tuple(asio::deferred)));
    BOOST_TEST(ec.failed());
    BOOST_TEST(diag.client_message.find("certificate verify failed") != std::string::npos, diag.client_message);
    BOOST_TEST(diag.client_message.find("mismatch") != std::string::npos, diag.client_message); // the reason

    // Without the mock's CA the chain does not verify either.
    mock_fixture g;
    auto untrusted = g.options();
    untrusted.tls.ca_pem.clear();
    carcheck::client c2(g.ioc.get_executor(), untrusted);
    carcheck::diagnostics diag2;
    auto [ec2, cfg2] = g.run(c2.get_config(diag2, asio::as_tuple(asio::deferred)));
    BOOST_TEST(ec2.failed());
    BOOST_TEST(diag2.client_message.find("TLS handshake") != std::string::npos);

    // A CA file is accepted.
    auto ca = write_file(g.dir.path / "ca.pem", g.server.certificate_pem());
    auto trusted = g.options();
    trusted.tls.ca_pem.clear();
    trusted.tls.ca_file = ca.string();
    carcheck::client c3(g.ioc.get_executor(), trusted);
    BOOST_TEST(!g.run(c3.get_config()).countries.empty());

    // A missing CA file is a clear construction error.
    trusted.tls.ca_file = (g.dir.path / "nope.pem").string();
    BOOST_CHECK_THROW(carcheck::client(g.ioc.get_executor(), trusted), carcheck::api_error);
}

BOOST_AUTO_TEST_CASE(request_timeout_then_pool_still_serves)
{
    mock_fixture f;
    auto co = f.options();
    co.timeouts.request = std::chrono::milliseconds(300);
    carcheck::client c(f.ioc.get_executor(), co);
    auto path = f.image("SLOW1");
    carcheck::recognize_options opts;
    f.server.inject(mock::fault::stall);
    carcheck::diagnostics diag;
    auto [ec, r] = f.run(c.recognize_file(path, opts, diag, asio::as_tuple(asio::deferred)));
    BOOST_TEST(ec == carcheck::error::timeout);
    auto ok = f.run(c.recognize_file(path, opts));
    BOOST_TEST(ok.results.size() == 1u);
}

// A small upload is written in one buffer (the file read straight into it). A file that
// changed while its request waited for a connection ends that request with file_changed,
// naming the file: nothing of it is sent and no credit is spent.
BOOST_AUTO_TEST_CASE(a_file_changed_while_waiting_is_refused_before_sending)
{
    auto o = default_mock_options();
    o.slow_delay = std::chrono::milliseconds(400);
    mock_fixture f(o);
    auto co = f.options();
    co.max_connections = 1;
    carcheck::client c(f.ioc.get_executor(), co);
    const auto first = f.image("WAIT1");
    const auto second = f.image("WAIT2");
    carcheck::recognize_options opts;
    f.server.inject(mock::fault::slow_headers); // holds the one connection for 400 ms
    carcheck::diagnostics first_diag, second_diag;
    carcheck::error_code first_ec, second_ec;
    carcheck::recognition first_result;
    int done = 0;
    auto finish = [&] {
        if (++done == 2)
            f.ioc.stop();
    };
    c.recognize_file(first, opts, first_diag, [&](carcheck::error_code ec, carcheck::recognition r) {
        first_ec = ec;
        first_result = std::move(r);
        finish();
    });
    c.recognize_file(second, opts, second_diag, [&](carcheck::error_code ec, carcheck::recognition) {
        second_ec = ec;
        finish();
    });
    asio::steady_timer grow(f.ioc, std::chrono::milliseconds(150));
    grow.async_wait([&](boost::system::error_code) { fs::resize_file(second, fs::file_size(second) + 1); });
    f.ioc.run_for(std::chrono::seconds(30));
    BOOST_REQUIRE_EQUAL(done, 2);
    BOOST_TEST(!first_ec);
    BOOST_REQUIRE_EQUAL(first_result.results.size(), 1u);
    BOOST_TEST(first_result.results[0].plate == "WAIT1");
    BOOST_TEST(second_ec == carcheck::error::file_changed);
    BOOST_TEST(second_diag.client_message.find("WAIT2.jpg") != std::string::npos, second_diag.client_message);
    BOOST_TEST(f.server.credits_used("test-key") == 1);
}

BOOST_AUTO_TEST_CASE(broken_responses_are_named_errors)
{
    mock_fixture f;
    carcheck::client c(f.ioc.get_executor(), f.options());
    auto path = f.image("BROKEN1");
    carcheck::recognize_options opts;
    struct expectation {
        mock::fault fault;
        carcheck::error_code ec;
    };
    const std::vector<expectation> cases{
        {mock::fault::malformed_json, carcheck::error::bad_response},
        {mock::fault::non_json_body, carcheck::error::bad_response},
        {mock::fault::html_200, carcheck::error::bad_response},
        {mock::fault::close_mid_body, carcheck::error::bad_response},
        {mock::fault::truncated_body, carcheck::error::bad_response},
        {mock::fault::status_503, carcheck::error::unexpected_status},
    };
    for (const auto& e : cases) {
        f.server.inject(e.fault);
        carcheck::diagnostics diag;
        auto [ec, r] = f.run(c.recognize_file(path, opts, diag, asio::as_tuple(asio::deferred)));
        BOOST_TEST(ec == e.ec, "fault " << static_cast<int>(e.fault) << ": " << diag.describe(ec));
        // The pool is healthy afterwards.
        BOOST_TEST(f.run(c.recognize_file(path, opts)).results.size() == 1u);
    }
    f.server.inject(mock::fault::close_before_response);
    carcheck::diagnostics diag;
    auto [ec, r] = f.run(c.recognize_file(path, opts, diag, asio::as_tuple(asio::deferred)));
    BOOST_TEST(ec.failed());
    BOOST_TEST(!diag.client_message.empty());
}

BOOST_AUTO_TEST_CASE(cancellation_of_a_stalled_request)
{
    mock_fixture f;
    carcheck::client c(f.ioc.get_executor(), f.options());
    auto path = f.image("CANCEL1");
    carcheck::recognize_options opts;
    f.server.inject(mock::fault::stall);
    asio::steady_timer t(f.ioc);
    using namespace asio::experimental::awaitable_operators;
    auto result = f.run([&]() -> asio::awaitable<std::variant<std::tuple<carcheck::error_code, carcheck::recognition>, std::tuple<boost::system::error_code>>> {
        t.expires_after(std::chrono::milliseconds(200));
        co_return co_await (c.recognize_file(path, opts, asio::as_tuple(asio::use_awaitable)) ||
                            t.async_wait(asio::as_tuple(asio::use_awaitable)));
    }());
    BOOST_TEST(result.index() == 1u); // the timer won; the request was cancelled
    BOOST_TEST(f.run(c.recognize_file(path, opts)).results.size() == 1u);
    BOOST_TEST(c.connection_counters().in_use == 0u);
}

BOOST_AUTO_TEST_CASE(without_a_strand_when_not_thread_safe)
{
    mock_fixture f;
    {
        carcheck::client safe(f.ioc.get_executor(), f.options());
        BOOST_TEST((safe.get_executor().target<asio::strand<asio::any_io_executor>>() != nullptr));
    }
    auto o = f.options();
    o.thread_safe = false;
    carcheck::client c(f.ioc.get_executor(), o);
    // The client's work runs on the io_context's executor itself, not on a strand of it.
    BOOST_TEST((c.get_executor().target<asio::io_context::executor_type>() != nullptr));

    // Requests in flight together, each with its own outcome.
    constexpr int n = 24;
    std::vector<fs::path> paths;
    for (int i = 0; i < n; ++i)
        paths.push_back(f.image("NS" + std::to_string(100 + i)));
    int done = 0, right = 0;
    asio::steady_timer all_done(f.ioc, std::chrono::steady_clock::time_point::max());
    // Arguments, not captures: the lambda is gone before its coroutine runs.
    auto one = [](carcheck::client& c, fs::path path, std::string plate) -> asio::awaitable<bool> {
        const carcheck::recognize_options opts; // named: g++ 12 and co_await temporaries
        auto r = co_await c.recognize_file(path, opts, asio::use_awaitable);
        co_return r.results.size() == 1 && r.results[0].plate == plate;
    };
    for (int i = 0; i < n; ++i)
        asio::co_spawn(
            f.ioc, one(c, paths[i], "NS" + std::to_string(100 + i)),
            [&](std::exception_ptr e, bool good) {
                right += !e && good;
                if (++done == n)
                    all_done.cancel();
            });
    f.run(all_done.async_wait(asio::as_tuple(asio::use_awaitable)));
    BOOST_TEST(done == n);
    BOOST_TEST(right == n);
    BOOST_TEST(c.connection_counters().in_use == 0u);

    // Cancellation and close work the same way.
    const carcheck::recognize_options opts;
    f.server.inject(mock::fault::stall);
    asio::steady_timer t(f.ioc);
    using namespace asio::experimental::awaitable_operators;
    auto result = f.run([&]() -> asio::awaitable<std::variant<std::tuple<carcheck::error_code, carcheck::recognition>, std::tuple<boost::system::error_code>>> {
        t.expires_after(std::chrono::milliseconds(200));
        co_return co_await (c.recognize_file(paths[0], opts, asio::as_tuple(asio::use_awaitable)) ||
                            t.async_wait(asio::as_tuple(asio::use_awaitable)));
    }());
    BOOST_TEST(result.index() == 1u);
    c.close();
    auto [ec, r] = f.run(c.recognize_file(paths[0], opts, asio::as_tuple(asio::deferred)));
    BOOST_TEST(ec == carcheck::error::client_closed);
    BOOST_TEST(r.results.empty());
}

BOOST_AUTO_TEST_SUITE_END()
