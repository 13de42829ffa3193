package dev.rproxy.config;

/**
 * Graceful shutdown.
 *
 * @param graceMs how long in-flight exchanges may take to finish after the listener closes, >= 0
 */
public record ShutdownConfig(long graceMs) {

    public static final ShutdownConfig DEFAULT = new ShutdownConfig(10000);

    public ShutdownConfig {
        Checks.atLeast("graceMs", graceMs, 0);
    }
}
