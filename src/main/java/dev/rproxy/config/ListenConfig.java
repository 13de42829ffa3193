package dev.rproxy.config;

/**
 * Where the proxy accepts client connections.
 *
 * @param host local address to bind, e.g. {@code 0.0.0.0} or {@code ::}
 * @param port local port, 0..65535; 0 picks an ephemeral port (tests)
 */
public record ListenConfig(String host, int port) {

    public static final ListenConfig DEFAULT = new ListenConfig("0.0.0.0", 8080);

    public ListenConfig {
        Checks.token("host", host);
        Checks.between("port", port, 0, 65535);
    }
}
