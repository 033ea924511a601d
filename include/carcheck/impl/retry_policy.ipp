#ifndef CARCHECK_IMPL_RETRY_POLICY_IPP
#define CARCHECK_IMPL_RETRY_POLICY_IPP

#include <carcheck/retry_policy.hpp>

#include <algorithm>

namespace carcheck {

CARCHECK_DECL exponential_backoff::exponential_backoff(backoff_options opts)
    : opts_(opts), rng_(opts.seed ? *opts.seed : (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}())
{
    if (opts_.base.count() < 0)
        opts_.base = std::chrono::milliseconds{0};
    if (opts_.cap < opts_.base)
        opts_.cap = opts_.base;
}

CARCHECK_DECL std::chrono::nanoseconds exponential_backoff::ceiling(unsigned attempts) const noexcept
{
    const std::chrono::nanoseconds cap = opts_.cap;
    std::chrono::nanoseconds c = opts_.base;
    // Doubling step by step cannot overflow: it stops as soon as the cap is reached.
    for (unsigned i = 1; i < attempts && c < cap; ++i)
        c *= 2;
    return std::min(c, cap);
}

CARCHECK_DECL std::optional<std::chrono::nanoseconds>
exponential_backoff::next_delay(const retry_context& ctx)
{
    const bool refused = ctx.reason == retry_reason::rate_limited;
    // A 403 is free to repeat: only the attempts that were not refused count.
    const unsigned counted = ctx.attempts - std::min(ctx.refused, ctx.attempts);
    if (!refused && counted >= opts_.max_attempts)
        return std::nullopt;
    // The window resets at a known time: sooner is refused again, later wastes the window.
    if (refused && ctx.until_reset)
        return std::max(*ctx.until_reset, std::chrono::nanoseconds{0});
    const auto top = ceiling(refused ? std::max(ctx.refused, 1u) : counted);
    std::uniform_int_distribution<std::int64_t> pick(0, top.count());
    return std::chrono::nanoseconds{pick(rng_)};
}

} // namespace carcheck

#endif
