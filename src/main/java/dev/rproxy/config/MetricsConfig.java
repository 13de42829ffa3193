package dev.rproxy.config;

/**
 * The request counters behind {@code /metrics} and the dashboard.
 *
 * @param enabled whether exchanges are counted (the state gauges and JVM figures are there either
 *                way); on by default, off only to measure what counting costs
 */
public record MetricsConfig(boolean enabled) {

    public static final MetricsConfig DEFAULT = new MetricsConfig(true);
}
