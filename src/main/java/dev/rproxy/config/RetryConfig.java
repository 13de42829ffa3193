package dev.rproxy.config;

import java.util.List;

/**
 * When a request that failed on one backend is sent to another. Only a request that can be sent
 * again as the client sent it is retried: an idempotent method (RFC 9110 section 9.2.2) or one with
 * an {@code Idempotency-Key} field, whose body is not past the request buffer ({@code
 * limits.requestBufferBytes}); a connect failure, where nothing reached the backend, is retried for
 * any method.
 *
 * @param attempts        retries after the first try, 0..10 (0: none)
 * @param on              the conditions: {@code connect-failure} (refused, timed out, TLS failed),
 *                        {@code reset-before-response} (the connection closed before any byte of a
 *                        response), {@code timeout} (no response within {@code perTryTimeoutMs}, or
 *                        {@code timeouts.responseMs}), and the statuses {@code 502}, {@code 503},
 *                        {@code 504}
 * @param budgetPercent   retries in flight on the upstream at most this share of its requests in
 *                        flight (at least {@value #MIN_RETRY_CONCURRENCY} at any time), 0..100
 * @param perTryTimeoutMs how long one try may wait for its response head before it counts as a
 *                        {@code timeout}; 0: {@code timeouts.responseMs}
 */
public record RetryConfig(int attempts, List<String> on, int budgetPercent, long perTryTimeoutMs) {

    public static final String CONNECT_FAILURE = "connect-failure";
    public static final String RESET = "reset-before-response";
    public static final String TIMEOUT = "timeout";
    public static final List<String> CONDITIONS = List.of(CONNECT_FAILURE, RESET, TIMEOUT, "502", "503", "504");
    /** Retries always allowed in flight per upstream, whatever the budget says (Envoy's default too). */
    public static final int MIN_RETRY_CONCURRENCY = 3;

    /** One retry on another backend after a connect failure or a reset: what nginx does by default. */
    public static final RetryConfig DEFAULT = new RetryConfig(1, List.of(CONNECT_FAILURE, RESET), 20, 0);

    public RetryConfig {
        Checks.between("attempts", attempts, 0, 10);
        Checks.required("on", on);
        for (int i = 0; i < on.size(); i++) {
            Checks.oneOf("on[" + i + "]", on.get(i), CONDITIONS);
        }
        on = List.copyOf(on);
        Checks.between("budgetPercent", budgetPercent, 0, 100);
        Checks.atLeast("perTryTimeoutMs", perTryTimeoutMs, 0);
    }

    /** Whether {@code condition} is among {@link #on}. */
    public boolean on(String condition) {
        return on.contains(condition);
    }

    /** Whether a response with this status is retried. */
    public boolean onStatus(int status) {
        return status >= 502 && status <= 504 && on.contains(Integer.toString(status));
    }
}
