package dev.rproxy.config;

/**
 * Active health checking of backends: a {@code GET path} every {@code intervalMs}. A backend
 * becomes unhealthy after {@code unhealthyThreshold} consecutive failures and healthy again after
 * {@code healthyThreshold} consecutive successes.
 *
 * @param enabled            when false every backend is considered healthy
 * @param path               request target of the probe; starts with {@code /}, visible ASCII only
 * @param intervalMs         time between probes, >= 1
 * @param timeoutMs          deadline for one probe (connect and response), >= 1
 * @param unhealthyThreshold consecutive failures that mark a backend unhealthy, >= 1
 * @param healthyThreshold   consecutive successes that mark it healthy again, >= 1
 * @param spread             with {@code redis}: each backend is probed by one fleet member per
 *                           interval, the one that claims it in Redis first; the others take its
 *                           word (shared health). Without {@code redis} it changes nothing.
 */
public record HealthCheckConfig(boolean enabled, String path, long intervalMs, long timeoutMs,
                                int unhealthyThreshold, int healthyThreshold, boolean spread) {

    public static final HealthCheckConfig DEFAULT = new HealthCheckConfig(true, "/_health", 5000, 2000, 2, 1, false);

    /** Probes by every member for itself ({@code spread} off). */
    public HealthCheckConfig(boolean enabled, String path, long intervalMs, long timeoutMs,
                             int unhealthyThreshold, int healthyThreshold) {
        this(enabled, path, intervalMs, timeoutMs, unhealthyThreshold, healthyThreshold, false);
    }

    public HealthCheckConfig {
        checkPath(path);
        Checks.atLeast("intervalMs", intervalMs, 1);
        Checks.atLeast("timeoutMs", timeoutMs, 1);
        Checks.atLeast("unhealthyThreshold", unhealthyThreshold, 1);
        Checks.atLeast("healthyThreshold", healthyThreshold, 1);
    }

    /** The path goes into a request line as is, so it must not be able to break it (RFC 9112 §3). */
    private static void checkPath(String path) {
        Checks.required("path", path);
        if (!path.startsWith("/")) {
            throw new ConfigException("path: " + Checks.quote(path) + " (expected: starting with \"/\")");
        }
        if (path.chars().anyMatch(c -> c <= ' ' || c >= 0x7f)) {
            throw new ConfigException("path: " + Checks.quote(path)
                    + " (expected: visible ASCII characters only, no spaces)");
        }
    }
}
