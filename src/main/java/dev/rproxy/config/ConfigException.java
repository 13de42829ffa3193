package dev.rproxy.config;

/**
 * A configuration problem. The message is a single line, ready to print, that names where the
 * problem is: a JSON path such as {@code pool.maxConnectionsPerBackend} for a bad value, or the
 * file name for I/O and syntax errors.
 */
public final class ConfigException extends RuntimeException {
    /** The message names its whole JSON path; a relative one ({@code port: ...}) gets its section's. */
    private final boolean located;

    public ConfigException(String message) {
        this(message, null, false);
    }

    public ConfigException(String message, Throwable cause) {
        this(message, cause, false);
    }

    private ConfigException(String message, Throwable cause, boolean located) {
        super(message, cause);
        this.located = located;
    }

    /** A problem at {@code path}, the whole JSON path from the top of the document. */
    static ConfigException at(String path, String problem) {
        return new ConfigException(path + ": " + problem, null, true);
    }

    /** This problem with {@code path} put before its relative message, unless it names its path already. */
    ConfigException within(String path) {
        return located || path.isEmpty() ? this : new ConfigException(path + "." + getMessage(), this, true);
    }
}
