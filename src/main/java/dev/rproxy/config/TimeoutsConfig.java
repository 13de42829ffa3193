package dev.rproxy.config;

/**
 * Deadlines of an exchange, all in milliseconds and >= 1.
 *
 * @param connectMs  connecting to a backend
 * @param responseMs from the request being sent to the backend's response head arriving
 * @param idleMs     a client or backend connection with no traffic in either direction
 */
public record TimeoutsConfig(long connectMs, long responseMs, long idleMs) {

    public static final TimeoutsConfig DEFAULT = new TimeoutsConfig(2000, 30000, 60000);

    public TimeoutsConfig {
        Checks.atLeast("connectMs", connectMs, 1);
        Checks.atLeast("responseMs", responseMs, 1);
        Checks.atLeast("idleMs", idleMs, 1);
    }
}
