package dev.rproxy.config;

/**
 * Access logging.
 *
 * @param enabled whether each completed exchange is logged
 */
public record AccessLogConfig(boolean enabled) {

    public static final AccessLogConfig DEFAULT = new AccessLogConfig(true);
}
