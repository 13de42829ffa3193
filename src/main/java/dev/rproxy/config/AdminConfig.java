package dev.rproxy.config;

/**
 * The admin listener: the admin API beside, never on, the proxied ports. Off unless configured;
 * loopback by default, since whoever reaches it can take backends out of service.
 *
 * @param host address to bind ({@code 127.0.0.1} by default)
 * @param port port to bind (0 picks a free one; the log line says which)
 */
public record AdminConfig(String host, int port) {

    public static final String DEFAULT_HOST = "127.0.0.1";
    public static final int DEFAULT_PORT = 9901;

    public AdminConfig {
        Checks.token("host", host);
        Checks.between("port", port, 0, 65535);
    }
}
