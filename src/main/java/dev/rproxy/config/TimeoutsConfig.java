package dev.rproxy.config;

/**
 * Deadlines of an exchange, all in milliseconds and >= 1.
 *
 * @param connectMs  connecting to a backend
 * @param responseMs from the request being sent to the backend's response head arriving
 * @param idleMs     a client connection that sends nothing between requests, or stalls an exchange
 * @param requestHeadMs from the first byte of a request to the end of its head (else 408)
 * @param tunnelMs   a switched connection (after a 101, e.g. WebSocket) with no bytes either way
 */
public record TimeoutsConfig(long connectMs, long responseMs, long idleMs, long requestHeadMs, long tunnelMs) {

    public static final TimeoutsConfig DEFAULT = new TimeoutsConfig(2000, 30000, 60000, 10000, 3_600_000);

    public TimeoutsConfig {
        Checks.atLeast("connectMs", connectMs, 1);
        Checks.atLeast("responseMs", responseMs, 1);
        Checks.atLeast("idleMs", idleMs, 1);
        Checks.atLeast("requestHeadMs", requestHeadMs, 1);
        Checks.atLeast("tunnelMs", tunnelMs, 1);
    }
}
