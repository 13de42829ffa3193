package dev.rproxy.config;

import java.nio.file.Path;
import java.util.List;

/**
 * Access logging: one line per exchange.
 *
 * @param enabled whether each completed exchange is logged
 * @param format  {@code default} (the proxy's own line), {@code combined} (the Apache/nginx
 *                format log tools parse) or {@code json} (one JSON object per line)
 * @param file    the file lines are appended to (reopened on SIGUSR1, for rotation); {@code null}:
 *                stdout
 */
public record AccessLogConfig(boolean enabled, String format, Path file) {

    public static final String DEFAULT_FORMAT = "default";
    public static final String COMBINED = "combined";
    public static final String JSON = "json";
    public static final AccessLogConfig DEFAULT = new AccessLogConfig(true, DEFAULT_FORMAT, null);

    public AccessLogConfig {
        format = format == null ? DEFAULT_FORMAT : Checks.oneOf("format", format, List.of(DEFAULT_FORMAT, COMBINED, JSON));
    }

    /** Enabled or not, in the default format to stdout. */
    public AccessLogConfig(boolean enabled) {
        this(enabled, DEFAULT_FORMAT, null);
    }
}
