package dev.rproxy.config;

/**
 * Passive health of an upstream's backends (outlier detection, as Envoy's): a backend that fails
 * {@code consecutiveFailures} requests in a row (connect failure, a reset before the response, a
 * 5xx) is ejected for {@code baseEjectionMs}, twice as long at each ejection after that (at most
 * {@code maxEjectionMs}); never more than {@code maxEjectionPercent} of the group is ejected at once.
 *
 * @param consecutiveFailures failures in a row that eject, >= 1
 * @param baseEjectionMs      the first ejection's length, >= 1
 * @param maxEjectionPercent  the share of the group that may be ejected at once, 0..100 (at least
 *                            one backend may always be ejected from a group of two or more)
 * @param maxEjectionMs       the longest ejection, >= baseEjectionMs
 */
public record OutlierConfig(int consecutiveFailures, long baseEjectionMs, int maxEjectionPercent, long maxEjectionMs) {

    public static final OutlierConfig DEFAULT = new OutlierConfig(5, 30_000, 50, 300_000);

    public OutlierConfig {
        Checks.atLeast("consecutiveFailures", consecutiveFailures, 1);
        Checks.atLeast("baseEjectionMs", baseEjectionMs, 1);
        Checks.between("maxEjectionPercent", maxEjectionPercent, 0, 100);
        Checks.atLeast("maxEjectionMs", maxEjectionMs, baseEjectionMs);
    }
}
