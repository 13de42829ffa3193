package dev.rproxy.config;

/**
 * A configuration problem. The message is a single line, ready to print, that names where the
 * problem is: a JSON path such as {@code pool.maxConnectionsPerBackend} for a bad value, or the
 * file name for I/O and syntax errors.
 */
public final class ConfigException extends RuntimeException {

    public ConfigException(String message) {
        super(message);
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}
